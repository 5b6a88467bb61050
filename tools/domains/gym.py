"""reasoning-gym's task families: many kinds of problem in one stream, one store, scored by each dataset.

Every family is the one domain ``gym``; a problem's family is in its meta for
reports and for training, and is never an input when solving: the answer check is
chosen by the question's form (``tools.tasks.gym_checks``), and stored procedures
are chosen by how alike the problem is to the problems that wrote or verified them.
A procedure is ``solve(question: str) -> str | None`` over the question text a user
would give.
"""

from __future__ import annotations

import argparse
import random

from tools.domains.base import Domain
from tools.domains.split import Split, SplitRecord
from tools.problem import Problem, Verifier
from tools.tasks import gym, gym_checks, mathx

#: Dev problems per family by default, and the offset of the dev seed from the training seed.
DEFAULT_DEV_SIZE, DEFAULT_TRAIN_SIZE, DEV_SEED_OFFSET = 30, 8, 1000


def _families(text: str) -> list[str]:
    names = [f.strip() for f in text.split(",") if f.strip()]
    if not names:
        raise ValueError("--families needs at least one family name")
    return names


class GymDomain(Domain):
    name = "gym"
    solve_help = "a reasoning-gym dataset by family name and seed (106 generators, each with its own scorer)"
    eval_help = "several reasoning-gym families in one mixed stream and one store (train and dev from other seeds)"
    small_sizes = (2, 4)
    report_groups = ("family",)
    procedure_signature = "solve(question: str) -> str | None"
    procedure_doc = ("`question` is the whole problem text exactly as shown above, instructions and all, not only its "
                     "data: find in it the values this problem gives (for example with re; the instructions hold numbers "
                     "and words too, so match the data by the words around it, never every number or word of the "
                     "text), compute the answer, and "
                     "return it as a string in exactly the form the question asks for; return None when the text is "
                     "not a problem of this kind.")
    stories = True
    global_ids = True
    answer_scored = True

    def procedure_args(self, problem: Problem) -> list[object] | None:
        return [problem.prompt]

    def procedure_family(self, problem: Problem) -> str:
        return f"gym/{problem.meta.get('family', 'unknown')}"

    def check_problems(self, n: int, problem: Problem | None = None) -> list[Problem]:
        """``n`` problems of the family from :data:`~tools.tasks.gym.CHECK_SEED`, never an eval's train or dev."""
        family = problem.meta.get("family") if problem is not None else None
        return gym.problems(family, gym.CHECK_SEED, n) if family else []

    def family_problems(self, family: str, n: int) -> list[Problem]:
        return gym.problems(family.removeprefix("gym/"), gym.CHECK_SEED, n)

    def verifier(self, problem: Problem) -> Verifier | None:
        return gym_checks.checker_for(problem.prompt)

    def max_tokens(self, problem: Problem) -> int | None:
        return gym.FAMILY_TOKENS.get(problem.meta.get("family", ""))

    def score(self, problem: Problem, attempts: list[str]) -> float:
        return gym.score(problem, attempts[-1]) if attempts else 0.0

    def final_answer(self, text: str) -> str | None:
        return mathx.tagged_answer(text)

    # --- the command line -------------------------------------------------------------------------------

    def add_solve_options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--family", required=True, help="a reasoning-gym dataset name, e.g. countdown")
        parser.add_argument("--size", type=int, default=20, help="problems to generate (default 20)")
        parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")

    def solve_problems(self, args: argparse.Namespace) -> tuple[list[Problem], str]:
        if args.size < 1:
            raise ValueError("--size must be at least 1")
        size = min(args.size, args.limit) if args.limit else args.size
        return gym.problems(args.family, args.seed, size), f"gym-{args.family}-s{args.seed}"

    def add_eval_options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--families", default=",".join(gym.DEFAULT_FAMILIES),
                            help=f"comma-separated reasoning-gym families (default: {','.join(gym.DEFAULT_FAMILIES)})")
        parser.add_argument("--train-size", type=int, default=DEFAULT_TRAIN_SIZE, metavar="N",
                            help=f"training problems per family (default {DEFAULT_TRAIN_SIZE})")
        parser.add_argument("--dev-size", type=int, default=DEFAULT_DEV_SIZE, metavar="N",
                            help=f"dev problems per family (default {DEFAULT_DEV_SIZE})")
        parser.add_argument("--seed", type=int, default=0, metavar="S",
                            help=f"training seed S; dev is generated from seed S+{DEV_SEED_OFFSET} (default 0)")
        parser.add_argument("--train-seed", type=int, default=None, metavar="T",
                            help="train on seed T instead of S, keeping S's dev problems (with --train-from: new "
                            "training problems for a memory learned on S)")

    def eval_split(self, args: argparse.Namespace) -> tuple[Split, str]:
        """Train from seed S, dev from S+1000, each family's problems interleaved into one stream (dev in
        family-round order, so any ``--limit`` prefix is mixed; train shuffled by the seed)."""
        names = _families(args.families)
        n_train, n_dev = self.small_sizes if args.small else (args.train_size, args.dev_size)
        if n_dev < 1 or n_train < 0:
            raise ValueError("--dev-size must be at least 1 and --train-size at least 0")
        dev_seed = args.seed + DEV_SEED_OFFSET
        train_seed = args.seed if getattr(args, "train_seed", None) is None else args.train_seed
        if gym.CHECK_SEED in (train_seed, dev_seed):
            raise ValueError(f"seed {gym.CHECK_SEED} is the procedures' cross-check seed; choose another --seed")
        if train_seed == dev_seed:
            raise ValueError(f"--train-seed {train_seed} is the dev seed; choose another")
        train = [p for f in names for p in (gym.problems(f, train_seed, n_train) if n_train else [])]
        random.Random(train_seed).shuffle(train)
        dev = gym.interleave([gym.problems(f, dev_seed, n_dev) for f in names])
        record = SplitRecord(kind=self.name, method="seeded", seed=train_seed,
                             sources={"train": f"reasoning-gym {','.join(names)} seed {train_seed} x{n_train}",
                                      "dev": f"reasoning-gym {','.join(names)} seed {dev_seed} x{n_dev}",
                                      "check": f"reasoning-gym seed {gym.CHECK_SEED}"})
        return Split(train=train, dev=dev, record=record), f"{len(names)}fam-s{train_seed}"

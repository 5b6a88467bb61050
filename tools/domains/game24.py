"""Game of 24: four numbers, ``+ - * /`` and parentheses, make 24. A gold-free check, and procedures as code.

It is the family where one verified procedure transfers to every puzzle, so it is where
procedural memory is measured: a stored ``solve(numbers)`` is called in the jail on a
puzzle's numbers and its answer is checked before it is used.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from tools.domains.base import Domain
from tools.domains.split import Split, SplitRecord, files_split, seeded_split
from tools.problem import Problem, Verifier
from tools.tasks import game24, mathx

#: Dev puzzles drawn from the 1,101 open ones when no --dev file is given.
DEFAULT_DEV_SIZE = 200


class Game24Domain(Domain):
    name = "game24"
    intro = ("Use each of the four numbers exactly once, with + - * / and parentheses, to make 24. "
             "The answer is the expression, for example (8-4)*(7-1).")
    answer_guide = "Think step by step, then give the final answer as \\boxed{expression}."
    forced_answer = ("\n\nFinal answer: \\boxed{", "}")
    solve_help = "Game of 24 puzzles (all solvable sets of four numbers 1..13, or a JSONL file)"
    eval_help = "Game of 24 (the open 1,101 puzzles split by a seed, or --train/--dev JSONL files)"
    small_sizes = (4, 4)
    procedure_signature = "solve(numbers: list[int]) -> str | None"
    always_solvable = True
    procedure_doc = ("Return an expression that uses each of the given numbers exactly once, with + - * / and "
                     "parentheses, and equals 24 exactly; None when there is none.")

    def procedure_args(self, problem: Problem) -> list[object] | None:
        return [list(problem.meta["numbers"])] if "numbers" in problem.meta else None

    def check_problems(self, n: int, problem: Problem | None = None) -> list[Problem]:
        """``n`` puzzles from the training side of the default split, the same ones every time."""
        train, _ = seeded_split(game24.open_puzzles(), DEFAULT_DEV_SIZE, 0)
        return random.Random(24).sample(train, min(n, len(train)))

    def verifier(self, problem: Problem) -> Verifier | None:
        return game24.Checker(problem.meta["numbers"]) if "numbers" in problem.meta else None

    def score(self, problem: Problem, attempts: list[str]) -> float:
        if not attempts or "numbers" not in problem.meta:
            return 0.0
        return 1.0 if game24.check(attempts[-1], problem.meta["numbers"]).ok else 0.0

    def final_answer(self, text: str) -> str | None:
        return mathx.last_boxed(text) or mathx.tagged_answer(text)

    def plain_answer(self, text: str, problem: Problem) -> str | None:
        return mathx.last_boxed(text)

    # --- the command line -------------------------------------------------------------------------------

    def add_solve_options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", type=Path, nargs="?", help='JSONL, one {"numbers": [a, b, c, d]} a line')
        parser.add_argument("--numbers", type=int, nargs=4, default=None, metavar="N", help="one puzzle")

    def solve_problems(self, args: argparse.Namespace) -> tuple[list[Problem], str]:
        if (args.file is None) == (args.numbers is None):
            raise ValueError("give either a JSONL FILE or --numbers A B C D")
        if args.numbers is not None:
            return [game24.make_problem(args.numbers)], "game24"
        return game24.load_jsonl(args.file, args.limit), f"game24-{args.file.stem}"

    def add_eval_options(self, parser: argparse.ArgumentParser) -> None:
        self.add_split_file_options(parser, "puzzles")
        parser.add_argument("--dev-size", type=int, default=None, metavar="N",
                            help=f"dev puzzles drawn from the open ones (default {DEFAULT_DEV_SIZE})")
        parser.add_argument("--split-seed", type=int, default=0, metavar="S", help="seed of the train/dev split")

    def eval_split(self, args: argparse.Namespace) -> tuple[Split, str]:
        """Given files, or the 1,101 open puzzles split by a seed (training in a seeded order, dev in source order).
        Reserved puzzles are refused either way."""
        if args.train is not None or args.dev is not None:
            split, label = files_split(self.name, args.train, args.dev, game24.load_jsonl), args.dev.stem
        else:
            problems = game24.open_puzzles()
            dev_size = args.dev_size or (2 * self.small_sizes[1] if args.small else DEFAULT_DEV_SIZE)
            train, dev = seeded_split(problems, dev_size, args.split_seed)
            # Source order is sorted by number: --train-limit would learn from 1-1-x-y puzzles only.
            random.Random(args.split_seed).shuffle(train)
            record = SplitRecord(kind=self.name, method="seeded", sources={"all": "game24 open puzzles (1101)"},
                                 seed=args.split_seed)
            split, label = Split(train=train, dev=dev, record=record), "open"
        reserved = [p.id for p in (*split.train, *split.dev) if game24.is_reserved(p.id)]
        if reserved:
            raise ValueError(f"{len(reserved)} puzzle(s) are reserved as the final test and may not be trained or "
                             f"evaluated on here (e.g. {reserved[0]})")
        return split, label

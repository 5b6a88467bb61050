"""Math word problems (GSM8K / MATH JSONL, or generated): ``\\boxed{}`` answers, scored by equivalence.

There is no gold-free check for a numeric answer, so there is no verifier; memory
for math is built on a labelled split with ``--verify gold``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.domains.base import BOXED_GUIDE, Domain, boxed_or_last_number
from tools.domains.split import (
    Split,
    SplitRecord,
    file_sha256,
    files_split,
    seeded_split,
)
from tools.problem import Problem
from tools.tasks import mathx


class MathDomain(Domain):
    name = "math"
    answer_guide = BOXED_GUIDE
    forced_answer = ("\n\nFinal answer: \\boxed{", "}")
    solve_help = "math word problems from JSONL (GSM8K / MATH shapes) or generated"
    eval_help = "math word problems (GSM8K / MATH JSONL, or generated)"
    small_sizes = (4, 4)

    def score(self, problem: Problem, attempts: list[str]) -> float:
        return mathx.score_problem(problem, attempts)

    def final_answer(self, text: str) -> str | None:
        return mathx.final_number(text)

    def plain_answer(self, text: str, problem: Problem) -> str | None:
        return boxed_or_last_number(text)

    def add_solve_options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", type=Path, nargs="?", help="JSONL file of problems")
        parser.add_argument("--generate", type=int, default=None, metavar="N", help="solve N generated problems instead")
        parser.add_argument("--seed", type=int, default=0, help="seed for --generate (default 0)")

    def solve_problems(self, args: argparse.Namespace) -> tuple[list[Problem], str]:
        if (args.file is None) == (args.generate is None):
            raise ValueError("give either a JSONL FILE or --generate N")
        if args.generate is not None:
            from tools.tasks.mathgen import generate

            return generate(args.generate, args.seed), f"mathgen{args.seed}"
        return mathx.load_jsonl(args.file, args.limit), f"math-{args.file.stem}"

    def add_eval_options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", type=Path, nargs="?", help="one JSONL file to split into train and dev (with --dev-size)")
        self.add_split_file_options(parser)
        parser.add_argument("--generate", type=int, default=None, metavar="N", help="split N generated problems instead")
        parser.add_argument("--dev-size", type=int, default=None, metavar="N", help="dev problems taken from FILE/--generate")
        parser.add_argument("--split-seed", type=int, default=0, metavar="S", help="seed of the train/dev split (default 0)")

    def eval_split(self, args: argparse.Namespace) -> tuple[Split, str]:
        """Given train/dev files, or one source split by a seed (``--dev-size``)."""
        single = [x for x in (args.file, args.generate) if x is not None]
        if args.train is not None or args.dev is not None:
            if single:
                raise ValueError("give either --train/--dev files or one FILE/--generate to split, not both")
            if args.dev_size is not None:
                raise ValueError("--dev-size splits one FILE; with --train/--dev use --limit")
            return files_split(self.name, args.train, args.dev, mathx.load_jsonl), args.dev.stem
        if args.generate is None and args.file is None and args.small:
            args.generate = 2 * self.small_sizes[1]
        if len(single) > 1 or (args.generate is None and args.file is None):
            raise ValueError("give the problems: one FILE or --generate N (split by --dev-size), or --train/--dev")
        if args.generate is not None:
            from tools.tasks.mathgen import generate

            if args.generate < 2:
                raise ValueError("--generate needs at least 2 problems to split")
            problems = generate(args.generate, args.split_seed)
            sources, shas, label = {"all": f"mathgen(n={args.generate}, seed={args.split_seed})"}, {}, "mathgen"
        else:
            problems = mathx.load_jsonl(args.file)
            sources, shas, label = {"all": str(args.file)}, {"all": file_sha256(args.file)}, args.file.stem
        dev_size = args.dev_size if args.dev_size is not None else (len(problems) // 2 if args.small else None)
        if dev_size is None:
            raise ValueError("--dev-size N is needed to split one file into train and dev")
        train, dev = seeded_split(problems, dev_size, args.split_seed)
        record = SplitRecord(kind=self.name, method="seeded", sources=sources, source_sha256=shas,
                             seed=args.split_seed)
        return Split(train=train, dev=dev, record=record), label

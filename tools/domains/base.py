"""What a task family is: one :class:`Domain` subclass holds everything the rest of mnemos asks of it.

Prompts, answer idiom, checks, scoring, loaders, the eval split and the plain arm
of a family used to be spread over nine files; a subclass here holds them, so
adding a family is its own file, one line in :mod:`tools.domains` and its tests.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import ClassVar

from tools.domains.split import Split
from tools.problem import ANSWER_TAG, Problem, Verifier

_ANSWER_OPEN, _ANSWER_CLOSE = f"<{ANSWER_TAG}>", f"</{ANSWER_TAG}>"
#: How a family without an idiom of its own asks for its answer: inside the answer tag.
TAGGED_GUIDE = f"Think step by step, then give the final answer inside {_ANSWER_OPEN}...{_ANSWER_CLOSE}."
#: Math's answer guide, for the model alone and the controller alike (the idiom the model was trained on).
BOXED_GUIDE = "Think step by step, then give the final answer as \\boxed{N}."

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def boxed_or_last_number(text: str) -> str | None:
    """The last ``\\boxed{}`` content, else the last number in the text (commas dropped), else None."""
    from tools.tasks.mathx import last_boxed

    boxed = last_boxed(text)
    if boxed:
        return boxed
    numbers = _NUMBER.findall(text)
    return numbers[-1].replace(",", "").rstrip(".") if numbers else None


class Domain:
    """A task family. Class attributes are its wording and limits; methods its checks, loaders and plain arm."""

    name: ClassVar[str]
    #: Instruction shown before a problem's own text (data-only prompts are built in ``tools``).
    intro: ClassVar[str] = ""
    #: How the controller's user turn asks for the final answer, in the idiom the model was trained on.
    answer_guide: ClassVar[str] = TAGGED_GUIDE
    #: Appended when an attempt stopped without an answer: the opening of the answer form, and its end.
    forced_answer: ClassVar[tuple[str, str]] = (f"\nFinal answer: {_ANSWER_OPEN}", _ANSWER_CLOSE)
    #: The ``Budgets`` field that caps the forced answer's tokens.
    force_budget: ClassVar[str] = "force_answer_tokens"
    #: ``mnemos solve``/``mnemos eval`` sub-command help; None keeps the family off the command line.
    solve_help: ClassVar[str | None] = None
    eval_help: ClassVar[str | None] = None
    #: (train, dev) problems of ``mnemos eval --small``.
    small_sizes: ClassVar[tuple[int, int]] = (4, 4)
    #: Problem ``meta`` keys the eval report breaks accuracy down by (e.g. hop count, context length).
    report_groups: ClassVar[tuple[str, ...]] = ()
    #: Procedures as code: the function a stored procedure of this family defines, and what it must return.
    #: None where a family's problems are not a function of a few inputs (its memory is concepts).
    procedure_signature: ClassVar[str | None] = None
    procedure_doc: ClassVar[str] = ""
    #: The family's answer is itself a program (ARC's ``transform``): a stored procedure is tried as the answer,
    #: by the family's gold-free check, and the program of a verified solve is the procedure learned from it.
    program_answers: ClassVar[bool] = False
    #: Every problem of the family has an answer (a procedure returning None is wrong, and is told so).
    always_solvable: ClassVar[bool] = False
    #: Many kinds of problem share this domain and one store, so a problem's stored procedures are chosen by how
    #: alike it is to the problems that wrote or verified them (retrieval), not by a family label.
    stories: ClassVar[bool] = False
    #: A problem id names the same problem in every split (a generator's family, seed and index), so another
    #: evaluation's dev problems may be a superset of this one's and its model-alone arms still apply.
    global_ids: ClassVar[bool] = False
    #: A problem's score is a function of its final answer alone (``score(problem, [answer])``), so a report scores
    #: stored answers again with the current scorer: a scorer fix then reaches episodes solved before it.
    answer_scored: ClassVar[bool] = False

    def procedure_args(self, problem: Problem) -> list[object] | None:
        """The arguments a stored procedure is called with on ``problem``; None when it has no such inputs."""
        return None

    def procedure_family(self, problem: Problem) -> str:
        """The label a procedure learned on ``problem`` is stored under (with its family rate); training only."""
        return problem.domain

    def check_problems(self, n: int, problem: Problem | None = None) -> list[Problem]:
        """Training-side problems of ``problem``'s family a new procedure is cross-checked on; none, none admitted."""
        return []

    def family_problems(self, family: str, n: int) -> list[Problem]:
        """The check problems of the stored family ``family`` (a procedure's ``domain``), as ``check_problems``
        gives them for a problem of it: what re-checking a stored procedure runs it on."""
        return self.check_problems(n)

    def verifier(self, problem: Problem) -> Verifier | None:
        """A checker that never reads ``problem.gold``; None when the family has no such check."""
        return None

    def max_tokens(self, problem: Problem) -> int | None:
        """The family's cap on generated tokens for one solve (below the settings' own), if it has one."""
        return None

    def score(self, problem: Problem, attempts: list[str]) -> float:
        """0..1 against ``problem.gold``; ``attempts`` are in the order they were made, final last."""
        raise NotImplementedError

    def final_answer(self, text: str) -> str | None:
        """The answer a finished solution commits to, in the form scoring reads; None if it commits to none.

        Solvers reason in the family's own idiom (``\\boxed{}`` for math, a fenced program for ARC), so
        the answer is read back in that idiom rather than demanded in a controller tag.
        """
        raise NotImplementedError

    # --- the eval's plain arm (the model alone) ---------------------------------------------------------

    def plain_problem(self, problem: Problem) -> Problem:
        """The problem as the plain arm solves and scores it (another family when it answers in another form)."""
        return problem

    def problem_text(self, problem: Problem) -> str:
        """The family's instruction (if any), then the problem's own text."""
        return f"{self.intro}\n\n{problem.prompt}" if self.intro else problem.prompt

    def question_parts(self, problem: Problem) -> list[str]:
        """The problem as every arm shows it: the family's instruction and text, after its document if any.

        The controller's user turn and the plain arm's both start from these parts, so the model alone and
        the controller read the same problem and differ only in what the controller adds.
        """
        text = self.problem_text(problem)
        return [f"Document:\n{problem.context}", f"Question:\n{text}"] if problem.context else [text]

    def plain_prompt(self, problem: Problem) -> str:
        """The model alone: the problem and the family's answer guide, in one user turn."""
        return "\n\n".join([*self.question_parts(problem), self.answer_guide])

    def plain_answer(self, text: str, problem: Problem) -> str | None:
        """What the plain arm answered, read in the form ``answer_guide`` asks for (the answer tag), else boxed."""
        from tools.tasks.mathx import last_boxed, tagged_answer

        return tagged_answer(text) or last_boxed(text)

    # --- the command line -------------------------------------------------------------------------------

    def add_solve_options(self, parser: argparse.ArgumentParser) -> None:
        """Flags of ``mnemos solve NAME`` that choose the problems."""

    def solve_problems(self, args: argparse.Namespace) -> tuple[list[Problem], str]:
        """The problems the flags ask for and a short label for the default run id."""
        raise NotImplementedError

    def add_eval_options(self, parser: argparse.ArgumentParser) -> None:
        """Flags of ``mnemos eval NAME`` that choose the train and dev problems."""

    @staticmethod
    def add_split_file_options(parser: argparse.ArgumentParser, what: str = "problems") -> None:
        """``--train``/``--dev``: the split given as JSONL files (read by :func:`~tools.domains.split.files_split`)."""
        parser.add_argument("--train", type=Path, default=None, help=f"JSONL file of training {what}")
        parser.add_argument("--dev", type=Path, default=None, help=f"JSONL file of dev {what}")

    def eval_split(self, args: argparse.Namespace) -> tuple[Split, str]:
        """The train/dev split the flags ask for (the family's split rule) and a label for the default name."""
        raise NotImplementedError

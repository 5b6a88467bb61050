"""Gold-free checks of reasoning-gym answers, read from the question text alone.

Where a family's answer can be checked from the question (the numbers of a
countdown, the givens of a sudoku, the board of n-queens), a procedure's answer is
used only if it passes here; these never read the dataset's metadata or answer.
Families with no entry here have no such check (see ``tools.domains.gym``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tools.problem import Verdict
from tools.tasks.game24 import check as check_expression

_INTS = re.compile(r"\d+")


def _expression(expr: str | None, numbers: list[int], target: int) -> Verdict:
    """An arithmetic expression that uses each of ``numbers`` exactly once and equals ``target`` (unary minus
    allowed: reasoning-gym's own countdown answers use it)."""
    return check_expression(expr, numbers, target=target, negation=True)


def puzzle24(question: str, answer: str | None) -> Verdict | None:
    m = re.search(r"Make 24 using ([\d,\s]+)\.", question)
    return _expression(answer, [int(x) for x in _INTS.findall(m.group(1))], 24) if m else None


#: The phrasings of a countdown question: (target, numbers) or (numbers, target).
_COUNTDOWN = (re.compile(r"(?:Calculate|make) (?P<t>\d+) using all of these numbers: (?P<n>[\d,\s]+)\."),
              re.compile(r"Using all the numbers (?P<n>[\d,\s]+), create an expression that equals (?P<t>\d+)\."))


def countdown(question: str, answer: str | None) -> Verdict | None:
    m = next((m for m in (r.search(question) for r in _COUNTDOWN) if m), None)
    return _expression(answer, [int(x) for x in _INTS.findall(m["n"])], int(m["t"])) if m else None


def _grid(text: str, width: int) -> list[list[str]]:
    rows = [r.split() for r in text.strip().splitlines() if r.strip()]
    return [r for r in rows if len(r) == width]


def mini_sudoku(question: str, answer: str | None) -> Verdict | None:
    m = re.search(r"puzzle:\n((?:[\d_](?: [\d_]){3}\n){4})", question)
    if not m:
        return None
    givens = _grid(m.group(1), 4)
    rows = _grid(answer or "", 4)
    if len(rows) != 4 or any(c not in "1234" for r in rows for c in r):
        return Verdict(ok=False, feedback="the answer must be four rows of four numbers 1-4")
    if any(g != "_" and g != a for gr, ar in zip(givens, rows, strict=True) for g, a in zip(gr, ar, strict=True)):
        return Verdict(ok=False, feedback="the answer changes a given number")
    groups = [*rows, *map(list, zip(*rows, strict=True)),
              *([rows[r][c] for r in (br, br + 1) for c in (bc, bc + 1)] for br in (0, 2) for bc in (0, 2))]
    if any(sorted(g) != list("1234") for g in groups):
        return Verdict(ok=False, feedback="a row, column or 2x2 box repeats a number")
    return Verdict(ok=True, score=1.0)


def n_queens(question: str, answer: str | None) -> Verdict | None:
    m = re.search(r"size (\d+) x \d+ your job is to place (\d+) queen", question)
    if not m:
        return None
    n, extra = int(m.group(1)), int(m.group(2))
    board = _grid(question[m.end():], n)[-n:]
    rows = _grid(answer or "", n)
    if len(board) != n or len(rows) != n or any(c not in "Q_" for r in rows for c in r):
        return Verdict(ok=False, feedback=f"the answer must be a {n} x {n} board of Q and _")
    given = {(r, c) for r in range(n) for c in range(n) if board[r][c] == "Q"}
    queens = {(r, c) for r in range(n) for c in range(n) if rows[r][c] == "Q"}
    if not given <= queens or len(queens) != len(given) + extra:
        return Verdict(ok=False, feedback=f"keep the given queens and place exactly {extra} more")
    for a in queens:
        for b in queens:
            if a < b and (a[0] == b[0] or a[1] == b[1] or abs(a[0] - b[0]) == abs(a[1] - b[1])):
                return Verdict(ok=False, feedback="two queens attack each other")
    return Verdict(ok=True, score=1.0)


#: Family -> check(question, answer); a check returns None when the question is not of its form.
CHECKS: dict[str, Callable[[str, str | None], Verdict | None]] = {
    "puzzle24": puzzle24, "countdown": countdown, "mini_sudoku": mini_sudoku, "n_queens": n_queens}


class QuestionChecker:
    """The :class:`~tools.problem.Verifier` of one question, chosen by the question's own form (no family label)."""

    def __init__(self, question: str, check: Callable[[str, str | None], Verdict | None]):
        self.question, self.check = question, check

    def __call__(self, answer: str) -> Verdict:
        return self.check(self.question, answer) or Verdict(ok=False, feedback="the question has no check")


def checker_for(question: str) -> QuestionChecker | None:
    """The check whose form the question has (each parses the question; at most one recognises it), else None."""
    for check in CHECKS.values():
        if check(question, None) is not None:
            return QuestionChecker(question, check)
    return None

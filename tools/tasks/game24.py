"""Game of 24: the puzzles, regenerated from scratch, and a gold-free exact checker.

Every multiset of four numbers from 1 to 13 that can make 24 is a puzzle (1,362 of
them). One fifth, chosen by a hash of the id, is reserved as a final test and never
used for training, tuning or dev. The checker parses the answer as an expression
(numbers, ``+ - * /`` and parentheses only) and evaluates it with exact rationals,
so ``8/(3-8/3)`` counts and float rounding never decides a verdict.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import re
from fractions import Fraction
from functools import cache
from pathlib import Path

from tools.problem import Problem, Verdict

TARGET = 24
LOW, HIGH = 1, 13
_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def puzzle_id(numbers: list[int] | tuple[int, ...]) -> str:
    """``"1-2-3-4"``: the sorted numbers, so a puzzle has one id whatever the order it is given in."""
    return "-".join(str(n) for n in sorted(numbers))


def is_reserved(pid: str) -> bool:
    """The final-test fifth: ``int(sha256(id), 16) % 5 == 0``. Never trained, tuned or evaluated on here."""
    return int(hashlib.sha256(pid.encode()).hexdigest(), 16) % 5 == 0


def find_solution(numbers: list[int] | tuple[int, ...]) -> str | None:
    """An expression over ``numbers`` equal to 24, or None: every split into two groups, with exact rationals.

    Used to build the puzzle list and in tests; the model never sees it.
    """
    return _find(tuple(sorted(numbers)))


@cache
def _find(nums: tuple[int, ...]) -> str | None:
    target = Fraction(TARGET)
    if len(nums) == 1:
        return str(nums[0]) if nums[0] == TARGET else None
    idx = range(len(nums))
    for size in range(1, len(nums) // 2 + 1):
        for left in itertools.combinations(idx, size):
            lv = _values(tuple(nums[i] for i in left))
            rv = _values(tuple(nums[i] for i in idx if i not in left))
            for (a, ea), (b, eb) in itertools.product(lv.items(), rv.items()):
                if (found := _reach(a, _wrap(ea), b, _wrap(eb), target)) is not None:
                    return found
    return None


def _reach(a: Fraction, ea: str, b: Fraction, eb: str, target: Fraction) -> str | None:
    for value, expr in ((a + b, f"{ea}+{eb}"), (a * b, f"{ea}*{eb}"), (a - b, f"{ea}-{eb}"), (b - a, f"{eb}-{ea}"),
                        (a / b if b else None, f"{ea}/{eb}"), (b / a if a else None, f"{eb}/{ea}")):
        if value == target:
            return expr
    return None


@cache
def _values(numbers: tuple[int, ...]) -> dict[Fraction, str]:
    """Every value the numbers can make (each used once), with one expression for it."""
    if len(numbers) == 1:
        return {Fraction(numbers[0]): str(numbers[0])}
    out: dict[Fraction, str] = {}
    idx = range(len(numbers))
    for size in range(1, len(numbers) // 2 + 1):
        for left in itertools.combinations(idx, size):
            right = tuple(i for i in idx if i not in left)
            lv = _values(tuple(numbers[i] for i in left))
            rv = _values(tuple(numbers[i] for i in right))
            for (a, ea), (b, eb) in itertools.product(lv.items(), rv.items()):
                ea, eb = _wrap(ea), _wrap(eb)
                out.setdefault(a + b, f"{ea}+{eb}")
                out.setdefault(a * b, f"{ea}*{eb}")
                out.setdefault(a - b, f"{ea}-{eb}")
                out.setdefault(b - a, f"{eb}-{ea}")
                if b:
                    out.setdefault(a / b, f"{ea}/{eb}")
                if a:
                    out.setdefault(b / a, f"{eb}/{ea}")
    return out


def _wrap(expr: str) -> str:
    return expr if expr.isdigit() else f"({expr})"


@cache
def all_puzzles() -> tuple[tuple[int, ...], ...]:
    """Every solvable multiset of four numbers from 1 to 13, in sorted order."""
    return tuple(c for c in itertools.combinations_with_replacement(range(LOW, HIGH + 1), 4) if find_solution(c))


def make_problem(numbers: list[int] | tuple[int, ...]) -> Problem:
    nums = sorted(int(n) for n in numbers)
    return Problem(id=puzzle_id(nums), domain="game24", prompt=f"Numbers: {' '.join(map(str, nums))}",
                   gold=find_solution(nums), meta={"numbers": nums})


def open_puzzles() -> list[Problem]:
    """The 1,101 puzzles that are not reserved: the only ones train and dev are drawn from."""
    return [make_problem(c) for c in all_puzzles() if not is_reserved(puzzle_id(c))]


def load_jsonl(path: Path, limit: int | None = None) -> list[Problem]:
    """Puzzles from JSONL, one ``{"numbers": [a, b, c, d]}`` a line; a bad line is an error that names it."""
    out: list[Problem] = []
    with Path(path).open() as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                nums = json.loads(line)["numbers"]
                if len(nums) != 4 or not all(isinstance(n, int) and not isinstance(n, bool) for n in nums):
                    raise ValueError("need four integers")
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: not a puzzle line {{\"numbers\": [a, b, c, d]}} ({exc})") from None
            out.append(make_problem(nums))
            if limit is not None and len(out) >= limit:
                break
    return out


class ExpressionError(ValueError):
    """The answer is not an arithmetic expression over numbers with ``+ - * /`` and parentheses."""


def evaluate(expr: str, *, target: int = TARGET, negation: bool = False) -> tuple[Fraction, list[int]]:
    """The exact value of ``expr`` and the numbers it uses, in order; ExpressionError for anything else.

    A trailing ``= target`` is dropped. ``negation`` allows unary minus (countdown's answers use it; a Game of 24
    answer may not)."""
    text = expr.strip().replace("×", "*").replace("÷", "/").replace("−", "-").replace("\\times", "*")
    text = text.replace("\\div", "/").replace("\\cdot", "*").replace("\\left", "").replace("\\right", "")
    text = re.sub(rf"\s*=\s*{target}\s*$", "", text)
    if not text or len(text) > 200:
        raise ExpressionError("empty or overlong expression")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ExpressionError(f"not an arithmetic expression: {expr!r}") from None
    used: list[int] = []

    def ev(node: ast.AST) -> Fraction:
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            a, b = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Div):
                if b == 0:
                    raise ExpressionError("division by zero")
                return a / b
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}[type(node.op)]
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            used.append(node.value)
            return Fraction(node.value)
        if negation and isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            return -ev(node.operand) if isinstance(node.op, ast.USub) else ev(node.operand)
        raise ExpressionError("only numbers, + - * / and parentheses are allowed")

    return ev(tree.body), used


def check(expr: str | None, numbers: list[int], *, target: int = TARGET, negation: bool = False) -> Verdict:
    """Gold-free: the expression uses each number exactly once and equals ``target`` (24) exactly."""
    if not expr:
        return Verdict(ok=False, feedback="no expression was given")
    try:
        value, used = evaluate(expr, target=target, negation=negation)
    except ExpressionError as exc:
        return Verdict(ok=False, feedback=str(exc))
    if sorted(used) != sorted(numbers):
        return Verdict(ok=False, feedback=f"the expression uses {sorted(used)}, but it must use each of "
                                          f"{sorted(numbers)} exactly once")
    if value != target:
        return Verdict(ok=False, feedback=f"the expression equals {value}, not {target}")
    return Verdict(ok=True, score=1.0)


class Checker:
    """The :class:`~tools.problem.Verifier` of one puzzle: reads only its numbers, never a gold answer."""

    def __init__(self, numbers: list[int]):
        self.numbers = list(numbers)

    def __call__(self, answer: str) -> Verdict:
        return check(answer, self.numbers)

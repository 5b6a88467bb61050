"""Procedural math problems with known answers, for smoke tests and demos (seeded, no copied data)."""

from __future__ import annotations

import random
from collections.abc import Callable
from fractions import Fraction

from tools.problem import Problem

_NAMES = ["Ada", "Bo", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana"]
_ITEMS = ["apples", "marbles", "stickers", "books", "coins", "pencils"]


def _fmt(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def _arithmetic(r: random.Random) -> tuple[str, Fraction, str]:
    a, b, c = r.randint(2, 40), r.randint(2, 40), r.randint(2, 12)
    op = r.choice(["+", "-"])
    value = Fraction(a) + (b if op == "+" else -b) * c
    return f"Compute {a} {op} {b} * {c}.", value, "arithmetic"


def _linear(r: random.Random) -> tuple[str, Fraction, str]:
    x, a, b = r.randint(-12, 12), r.randint(2, 9), r.randint(-20, 20)
    return f"Solve for x: {a}x + ({b}) = {a * x + b}.", Fraction(x), "linear"


def _fractions(r: random.Random) -> tuple[str, Fraction, str]:
    p, q = Fraction(r.randint(1, 5), r.randint(2, 9)), Fraction(r.randint(1, 5), r.randint(2, 9))
    return f"What is {_fmt(p)} + {_fmt(q)}? Give the answer as a reduced fraction.", p + q, "fractions"


def _word(r: random.Random) -> tuple[str, Fraction, str]:
    name, item = r.choice(_NAMES), r.choice(_ITEMS)
    start, bought, boxes, gave = r.randint(3, 30), r.randint(2, 9), r.randint(2, 6), r.randint(1, 10)
    text = (
        f"{name} has {start} {item}. {name} buys {boxes} boxes with {bought} {item} in each box, "
        f"then gives away {gave} {item}. How many {item} does {name} have now?"
    )
    return text, Fraction(start + boxes * bought - gave), "word"


def _percent(r: random.Random) -> tuple[str, Fraction, str]:
    price, pct = r.randint(2, 40) * 5, r.choice([10, 20, 25, 50])
    return f"A coat costs {price} dollars and is discounted by {pct}%. What is the new price in dollars?", Fraction(price * (100 - pct), 100), "percent"


GENERATORS: list[Callable[[random.Random], tuple[str, Fraction, str]]] = [_arithmetic, _linear, _fractions, _word, _percent]


def generate(n: int, seed: int = 0) -> list[Problem]:
    """``n`` problems cycling through the templates; the same seed gives the same problems."""
    if n < 0:
        raise ValueError("the number of problems must be >= 0")
    r = random.Random(seed)
    problems = []
    for i in range(n):
        text, value, kind = GENERATORS[i % len(GENERATORS)](r)
        problems.append(Problem(id=f"gen-{seed}-{i:04d}", domain="math", prompt=text, gold=_fmt(value), meta={"format": "generated", "template": kind}))
    return problems

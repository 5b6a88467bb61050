"""Solver programs for Game of 24 as a model would write them: right, wrong in the usual ways, and cheating."""

from __future__ import annotations

CORRECT = '''```python
from fractions import Fraction
from itertools import permutations, product

def solve(numbers):
    def combos(items):
        if len(items) == 1:
            yield items[0]
            return
        for i in range(len(items)):
            for j in range(len(items)):
                if i == j:
                    continue
                (a, ea), (b, eb) = items[i], items[j]
                rest = [items[k] for k in range(len(items)) if k not in (i, j)]
                outs = [(a + b, f"({ea}+{eb})"), (a - b, f"({ea}-{eb})"), (a * b, f"({ea}*{eb})")]
                if b != 0:
                    outs.append((a / b, f"({ea}/{eb})"))
                for v in outs:
                    yield from combos(rest + [v])
    for value, expr in combos([(Fraction(n), str(n)) for n in numbers]):
        if value == 24:
            return expr
    return None

print(solve([4, 6, 1, 1]))
```'''

#: Operators applied left to right over each order: right on some puzzles, wrong on those needing (a+b)*(c+d).
LEFT_TO_RIGHT = '''```python
from itertools import permutations, product

def solve(numbers):
    for p in permutations(numbers):
        for ops in product("+-*/", repeat=3):
            expr = str(p[0])
            value = p[0]
            ok = True
            for op, n in zip(ops, p[1:]):
                if op == "/" and n == 0:
                    ok = False
                    break
                value = eval(f"{value}{op}{n}")
                expr = f"({expr}{op}{n})"
            if ok and abs(value - 24) < 1e-9:
                return expr
    return None
```'''

LOOKUP = '''```python
def solve(numbers):
    table = {(1, 4, 7, 8): "(8-4)*(7-1)"}
    return table.get(tuple(sorted(numbers)), "(8-4)*(7-1)")
```'''

#: Only the (a?b)?(c?d) grouping: right where the answer pairs the numbers, as the model's partial solvers are.
PAIRS_ONLY = '''```python
from itertools import permutations, product

def solve(numbers):
    for a, b, c, d in permutations(numbers):
        for x, y, z in product("+-*/", repeat=3):
            expr = f"({a}{x}{b}){y}({c}{z}{d})"
            try:
                if abs(eval(expr) - 24) < 1e-9:
                    return expr
            except ZeroDivisionError:
                pass
    return None
```'''

#: What a model writes when asked to turn the answer (13-1)*(3-1) into a function: that form, every order of the inputs.
FORM_MINUS_TIMES_MINUS = '''```python
from itertools import permutations

def solve(numbers):
    for a, b, c, d in permutations(numbers):
        if (a - b) * (c - d) == 24:
            return f"({a}-{b})*({c}-{d})"
    return None
```'''

#: The answer itself returned as a literal: it only ever solves the problem it was shown.
REFERENCE_LITERAL = '''```python
def solve(numbers):
    return "(13-1)*(3-1)"
```'''

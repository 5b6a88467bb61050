"""Training outputs written into an ARC program: the part of its answers it has rather than computes.

A program that passes a training pair only proves something when it produced
that pair's output without having it. A lookup table (``TABLE = {...}``,
``return TABLE.get(...)``) passes every pair and generalises to nothing, so the
verifier asks, per training pair, whether the pair's output grid appears in
the program's source as a literal: as nested lists or tuples, as one flat
sequence of its cells, or as the digits of a string. Outputs computed from
constants (arithmetic, ``bytes.fromhex``, compression) are not found; this is
a floor under verification, not a proof of generalisation.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

Grid = list[list[int]]
#: Outputs with fewer cells appear by accident in honest code (``[0, 1]``, ``"12"``), so only their
#: nested form counts; from this size on, a flat run of the cells or digits in a string counts too.
FLAT_MIN_CELLS = 6
_NON_DIGIT = re.compile(r"[^0-9]")


def _literals(tree: ast.AST) -> Iterator[object]:
    """Every constant container and every string in the source, evaluated."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            try:
                yield ast.literal_eval(node)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            yield node.value


def _as_grid(value: object) -> Grid | None:
    if isinstance(value, (list, tuple)) and value and all(isinstance(r, (list, tuple)) for r in value):
        rows = [list(r) for r in value]
        if all(isinstance(c, int) and not isinstance(c, bool) for r in rows for c in r):
            return rows
    return None


def _as_flat(value: object) -> list[int] | None:
    if isinstance(value, (list, tuple)) and all(isinstance(c, int) and not isinstance(c, bool) for c in value):
        return list(value)
    return None


def _digits(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return _NON_DIGIT.sub("", value) if isinstance(value, str) else None


def embedded_outputs(program: str, outputs: list[Grid]) -> list[int]:
    """Indices of ``outputs`` that ``program`` contains as a literal (empty when it does not parse)."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return []
    grids: list[Grid] = []
    flats: list[list[int]] = []
    digits: list[str] = []
    for value in _literals(tree):
        if (grid := _as_grid(value)) is not None:
            grids.append(grid)
            flats.append([c for row in grid for c in row])
        elif (flat := _as_flat(value)) is not None:
            flats.append(flat)
        elif (text := _digits(value)) is not None:
            digits.append(text)
    found = []
    for i, out in enumerate(outputs):
        cells = [c for row in out for c in row]
        flat_found = len(cells) >= FLAT_MIN_CELLS and (
            any(_contains(flat, cells) for flat in flats) or any("".join(map(str, cells)) in text for text in digits))
        if out in grids or flat_found:
            found.append(i)
    return found


def _contains(seq: list[int], part: list[int]) -> bool:
    """``part`` occurs as a contiguous run in ``seq``."""
    n = len(part)
    return any(seq[i:i + n] == part for i in range(len(seq) - n + 1))

"""Reading a function out of a model's reply: one place, for stored procedures and ARC programs alike.

Replies put the function in a fenced block, often followed by example calls, prints or
asserts at top level, and are sometimes cut off by their token cap in the middle of
those. What is run is the module the reply defines (imports, functions, classes,
assignments that do not call the function asked for), so an example call that raises, or a
half-written line after the function, does not sink a function that is itself fine.
"""

from __future__ import annotations

import ast
import re

_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)
_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)


def extract_function(text: str, name: str) -> str | None:
    """The module a reply defines, without top-level calls or prints, if it parses and defines ``name``."""
    blocks = _FENCE.findall(text) or [text]
    for block in sorted(blocks, key=lambda b: f"def {name}(" not in b):
        if (tree := parsed_prefix(block)) is None:
            continue
        kept = [node for node in tree.body if isinstance(node, _KEEP) and not _runs(node, name)]
        if any(isinstance(n, ast.FunctionDef) and n.name == name for n in kept):
            return ast.unparse(ast.Module(body=kept, type_ignores=[]))
    return None


def _runs(node: ast.stmt, name: str) -> bool:
    """An assignment that calls the function asked for (``out = transform(example)``) is an example run; one
    that calls a helper of the reply (``PRIMES = sieve(100)``) is set-up the function may need."""
    return isinstance(node, (ast.Assign, ast.AnnAssign)) and any(
        isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == name
        for sub in ast.walk(node))


def parsed_prefix(block: str) -> ast.Module | None:
    """The longest run of whole lines from the start that parses: a reply cut off by its token cap mid-way
    through the example calls it adds after the function (an open string, a half line) still yields the
    function, where the whole block would be a syntax error."""
    lines = block.splitlines()
    for end in range(len(lines), 0, -1):
        try:
            return ast.parse("\n".join(lines[:end]))
        except SyntaxError:
            continue
    return None

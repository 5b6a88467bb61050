"""ARC answered with grids instead of a program: the plain arm's form, scored by the 2-attempt rule per test output."""

from __future__ import annotations

import json
import re

from tools.domains.base import Domain
from tools.problem import Problem
from tools.tasks import arc

#: The model alone on ARC: the output grid(s) asked for directly, in the JSON form the examples use.
PLAIN_ARC_USER = (
    "Each example below shows an input grid and the output grid that one hidden rule makes from it. "
    "Grids are JSON lists of rows; each number 0-9 is a colour.\n\n{examples}\n\n"
    "Apply the same rule to the test input{plural}. Think briefly, then for each test input write "
    "\"Test output N:\" followed by its output grid as a JSON list of rows."
)

_JSON_GRID = re.compile(r"\[\s*\[[\d,\s\[\]]*\]\s*\]")
_TEST_MARK = re.compile(r"test\s+output\s*(\d+)\s*:?", re.IGNORECASE)


def _grid_json(g: arc.Grid) -> str:
    return "[" + ",\n ".join(json.dumps(row) for row in g) + "]"


def _grids_in(text: str) -> list[arc.Grid]:
    found = []
    for match in _JSON_GRID.finditer(text):
        try:
            g = json.loads(match.group(0))
            arc.check_grid(g)
        except ValueError:
            continue
        found.append(g)
    return found


def parse_arc_grids(text: str, n_tests: int) -> list[arc.Grid | None]:
    """One predicted grid per test input: the first grid after "Test output N:", else grids in order.

    A missing prediction is None (it scores zero; it never borrows another test's grid).
    """
    marks = list(_TEST_MARK.finditer(text))
    preds: list[arc.Grid | None] = [None] * n_tests
    if marks:
        for j, m in enumerate(marks):
            k = int(m.group(1)) - 1
            end = marks[j + 1].start() if j + 1 < len(marks) else len(text)
            grids = _grids_in(text[m.end():end])
            if 0 <= k < n_tests and grids and preds[k] is None:
                preds[k] = grids[0]
    if not any(p is not None for p in preds):
        grids = _grids_in(text)
        if n_tests == 1 and grids:
            preds[0] = grids[-1]  # one test: the final grid written is the answer
        else:
            for k, g in enumerate(grids[:n_tests]):
                preds[k] = g
    return preds


class ArcGridDomain(Domain):
    name = "arc-grid"

    def score(self, problem: Problem, attempts: list[str]) -> float:
        n_tests = len(problem.gold or [])
        per_test: list[list[arc.Grid | None]] = [[] for _ in range(n_tests)]
        for answer in attempts[: arc.MAX_ATTEMPTS]:
            try:
                grids = json.loads(answer)
            except (TypeError, json.JSONDecodeError):
                grids = parse_arc_grids(answer or "", n_tests)
            if not isinstance(grids, list):
                continue
            for k in range(min(n_tests, len(grids))):
                per_test[k].append(grids[k])
        return arc.score_predictions(problem.gold or [], per_test)

    def final_answer(self, text: str) -> str | None:
        grids = [g for g in parse_arc_grids(text, 1) if g is not None]
        return json.dumps(grids) if grids else None

    def plain_prompt(self, problem: Problem) -> str:
        """Training pairs and test inputs from the problem's metadata, as JSON grids."""
        train, tests = problem.meta.get("train"), problem.meta.get("test_inputs")
        if not train or not tests:
            raise ValueError(f"ARC problem {problem.id} lacks training pairs or test inputs in its metadata")
        parts = []
        for i, pair in enumerate(train, 1):
            parts.append(f"Example {i} input:\n{_grid_json(pair['input'])}\n"
                         f"Example {i} output:\n{_grid_json(pair['output'])}")
        for i, grid in enumerate(tests, 1):
            parts.append(f"Test input {i}:\n{_grid_json(grid)}")
        return PLAIN_ARC_USER.format(examples="\n\n".join(parts), plural="s" if len(tests) > 1 else "")

    def plain_answer(self, text: str, problem: Problem) -> str | None:
        grids = parse_arc_grids(text, len(problem.meta.get("test_inputs") or []))
        return json.dumps(grids) if any(g is not None for g in grids) else None

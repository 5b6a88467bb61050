"""Free-text answers with an optional document: exact match after normalisation, any listed gold accepted."""

from __future__ import annotations

import re

from tools.domains.base import Domain
from tools.problem import Problem
from tools.tasks import mathx


def _norm(s: str) -> str:
    return re.sub(r"[^\w]+", " ", s).strip().lower()


class TextDomain(Domain):
    name = "text"

    def score(self, problem: Problem, attempts: list[str]) -> float:
        if not attempts or problem.gold is None:
            return 0.0
        golds = problem.gold if isinstance(problem.gold, list) else [problem.gold]
        final = _norm(mathx.extract_answer(attempts[-1]) or "")
        return 1.0 if any(_norm(str(g)) == final for g in golds) else 0.0

    def final_answer(self, text: str) -> str | None:
        return mathx.tagged_answer(text)

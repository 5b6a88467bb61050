"""Domain registry: how to verify (without gold) and how to score (with gold) each kind of problem.

Callers stay domain-agnostic: ``domain = get_domain(problem.domain)``, then
``domain.verifier(problem)`` during solving and ``domain.score(problem, attempts)``
after it.
"""

from __future__ import annotations

import re
from typing import Literal, Protocol

from tools.tasks import arc, mathx
from tools.problem import Problem, Verdict, Verifier

VerifyMode = Literal["domain", "gold", "off"]


class Domain(Protocol):
    name: str

    def verifier(self, problem: Problem) -> Verifier | None:
        """A checker that never reads ``problem.gold``; None when the domain has no such check."""

    def score(self, problem: Problem, attempts: list[str]) -> float:
        """0..1 against ``problem.gold``; ``attempts`` are in the order they were made, final last."""

    def final_answer(self, text: str) -> str | None:
        """The answer a finished solution text commits to, in the form scoring reads; None if it commits to none.

        Solvers reason in the domain's own idiom (``\\boxed{}`` for math, a fenced program for ARC), so
        the answer is read back in that idiom rather than demanded in a controller tag.
        """


class ArcDomain:
    name = "arc"

    def verifier(self, problem: Problem) -> Verifier | None:
        return arc.ArcVerifier(problem)

    def score(self, problem: Problem, attempts: list[str]) -> float:
        return arc.score_problem(problem, attempts)

    def final_answer(self, text: str) -> str | None:
        program = arc.extract_program(text)
        return f"```python\n{program.strip()}\n```" if program else None


class MathDomain:
    """No gold-free check exists for a numeric answer, so there is no verifier."""

    name = "math"

    def verifier(self, problem: Problem) -> Verifier | None:
        return None

    def score(self, problem: Problem, attempts: list[str]) -> float:
        return mathx.score_problem(problem, attempts)

    def final_answer(self, text: str) -> str | None:
        return mathx.final_number(text)


class TextDomain:
    """Free-text answers: exact match after case/space/punctuation normalisation, any listed gold accepted."""

    name = "text"

    def verifier(self, problem: Problem) -> Verifier | None:
        return None

    def score(self, problem: Problem, attempts: list[str]) -> float:
        if not attempts or problem.gold is None:
            return 0.0
        golds = problem.gold if isinstance(problem.gold, list) else [problem.gold]
        final = _norm(mathx.extract_answer(attempts[-1]) or "")
        return 1.0 if any(_norm(str(g)) == final for g in golds) else 0.0

    def final_answer(self, text: str) -> str | None:
        return mathx.tagged_answer(text)


def _norm(s: str) -> str:
    return re.sub(r"[^\w]+", " ", s).strip().lower()


_DOMAINS: dict[str, Domain] = {d.name: d for d in (ArcDomain(), MathDomain(), TextDomain())}


def register_domain(domain: Domain) -> None:
    _DOMAINS[domain.name] = domain


def get_domain(name: str) -> Domain:
    try:
        return _DOMAINS[name]
    except KeyError:
        raise ValueError(f"unknown problem domain {name!r}; known: {', '.join(sorted(_DOMAINS))}") from None


class GoldVerifier:
    """Checks an answer against ``problem.gold`` with the domain's own scoring.

    For building memory from a labelled (training) split, where math has no gold-free check and so
    would never count as verified. Retries then get reference-based feedback, so a run verified this
    way measures learning, not held-out accuracy; reports label it ``+gold``.
    """

    def __init__(self, problem: Problem) -> None:
        if problem.gold is None:
            raise ValueError(f"problem {problem.id} has no gold answer to verify against")
        self.problem = problem
        self.domain = get_domain(problem.domain)
        self.own = self.domain.verifier(problem)

    def __call__(self, answer: str) -> Verdict:
        """Matching the gold is required; so is the domain's own check where it has one, since what passes
        here is written to memory (an ARC lookup table must not get in by way of a gold run)."""
        if self.own is not None and not (own := self.own(answer)).ok:
            return own
        score = float(self.domain.score(self.problem, [answer]))
        ok = score >= 1.0
        feedback = "" if ok else "The answer does not match the reference answer. Recheck each step and the arithmetic."
        return Verdict(ok=ok, score=score, feedback=feedback)


def verifier_for(problem: Problem, mode: VerifyMode) -> Verifier | None:
    """The checker a solve gets: the domain's gold-free one, the gold answer (training splits), or none."""
    if mode == "off":
        return None
    if mode == "gold":
        return GoldVerifier(problem)
    return get_domain(problem.domain).verifier(problem)

"""The registry of task families: each is one :class:`~tools.domains.base.Domain` subclass in its own file.

Callers stay family-agnostic: ``domain = get_domain(problem.domain)``, then
``domain.verifier(problem)`` during solving, ``domain.score(problem, attempts)``
after it, and ``mnemos solve``/``mnemos eval`` build their sub-commands from
:data:`DOMAINS`. Adding a family is its file and one line in :data:`DOMAINS`.
"""

from __future__ import annotations

from typing import Literal

from tools.domains.arc import ArcDomain
from tools.domains.arc_grid import ArcGridDomain
from tools.domains.base import Domain
from tools.domains.game24 import Game24Domain
from tools.domains.gym import GymDomain
from tools.domains.math import MathDomain
from tools.domains.text import TextDomain
from tools.problem import Problem, Verdict, Verifier

VerifyMode = Literal["domain", "gold", "off"]

DOMAINS: dict[str, Domain] = {d.name: d for d in (ArcDomain(), MathDomain(), TextDomain(), ArcGridDomain(), Game24Domain(),
                                               GymDomain())}


def register_domain(domain: Domain) -> None:
    """Add (or replace) a family at run time, for tests and plug-ins."""
    DOMAINS[domain.name] = domain


def get_domain(name: str) -> Domain:
    try:
        return DOMAINS[name]
    except KeyError:
        raise ValueError(f"unknown problem domain {name!r}; known: {', '.join(sorted(DOMAINS))}") from None


def command_domains(command: Literal["solve", "eval"]) -> list[Domain]:
    """The families with a ``mnemos solve`` / ``mnemos eval`` sub-command, in registry order."""
    attr = "solve_help" if command == "solve" else "eval_help"
    return [d for d in DOMAINS.values() if getattr(d, attr) is not None]


class GoldVerifier:
    """Checks an answer against ``problem.gold`` with the family's own scoring.

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
        """Matching the gold is required; so is the family's own check where it has one, since what passes
        here is written to memory (an ARC lookup table must not get in by way of a gold run)."""
        if self.own is not None and not (own := self.own(answer)).ok:
            return own
        score = float(self.domain.score(self.problem, [answer]))
        ok = score >= 1.0
        feedback = "" if ok else "The answer does not match the reference answer. Recheck each step and the arithmetic."
        return Verdict(ok=ok, score=score, feedback=feedback)


def verifier_for(problem: Problem, mode: VerifyMode) -> Verifier | None:
    """The checker a solve gets: the family's gold-free one, the gold answer (training splits), or none."""
    if mode == "off":
        return None
    if mode == "gold":
        return GoldVerifier(problem)
    return get_domain(problem.domain).verifier(problem)


__all__ = ["DOMAINS", "Domain", "GoldVerifier", "VerifyMode", "command_domains", "get_domain", "register_domain",
           "verifier_for"]

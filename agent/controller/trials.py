"""A new concept, or sub-question procedure, is stored only if showing it raised the model's own solve rate on
held problems of its family.

Concepts written after every verified solve never helped: on GSM8K none reached the relevance
bar, and those stored were as trivial as "Add". Sub-question procedures can hurt: in concepts-r1
two written after one calendar problem were invented worked examples ("12/03/2023 ... falls on a
Friday"), and shown in the frozen arm the model copied "Friday" into other day-of-week questions.
So each candidate is measured A/B before it is stored: held training problems of its family
(with gold answers, never the problem it came from) are each solved twice as the plain arm asks
them, once as they are and once with the entry shown first, one greedy generation each, scored
against gold. The "without" half is the model alone, the same for every candidate, so it is kept
per held problem for the controller's life.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from agent.config import Budgets
from agent.controller.prompts import CONCEPT_TRIAL_PROMPT
from agent.controller.state import Trace
from agent.llm import ChatMessage, GenParams, TextGenerator
from memory.concepts import ConceptStore
from memory.schemas import Concept, Subroutine
from memory.subroutines import SubroutineStore
from tools.domains import Domain, get_domain
from tools.problem import Problem

#: Training problems of ``problem``'s family (the controller's per-family check problems).
HeldProblems = Callable[[Problem], Awaitable[list[Problem]]]
#: What a trial may show: a concept, or a sub-question with its procedure.
Entry = Concept | Subroutine


def entry_name(entry: Entry) -> str:
    return entry.name if isinstance(entry, Concept) else entry.question


def entry_shown(entry: Entry) -> str:
    """The entry as the memory arms would show it."""
    return ConceptStore.shown(0, entry) if isinstance(entry, Concept) else SubroutineStore.shown(0, entry)


class TrialResult(BaseModel):
    """One entry's A/B figures: held problems solved with it shown and without it, of the same ``n``."""

    concept: str = Field(description="The concept's name, or the sub-question.")
    with_concept: int
    without: int
    n: int
    admitted: bool

    def summary(self) -> str:
        verdict = "admitted" if self.admitted else "not admitted"
        return f"with {self.with_concept}/{self.n}, without {self.without}/{self.n}: {verdict}"

    def figures(self) -> dict[str, int]:
        """The fields an admitted :class:`~memory.schemas.Concept` keeps its trial in."""
        return {"trial_with": self.with_concept, "trial_without": self.without, "trial_n": self.n}


@dataclass(frozen=True)
class _Held:
    """A held problem as the plain arm asks and scores it (its family may be another, e.g. ARC as grids)."""

    problem: Problem
    domain: Domain
    params: GenParams

    @classmethod
    def of(cls, problem: Problem, budgets: Budgets) -> _Held:
        plain = get_domain(problem.domain).plain_problem(problem)
        domain = get_domain(plain.domain)
        cap = min(budgets.concept_trial_tokens, domain.max_tokens(plain) or budgets.concept_trial_tokens)
        return cls(plain, domain, GenParams(max_tokens=cap, temperature=0.0))

    @property
    def key(self) -> str:
        return f"{self.problem.domain}\0{self.problem.id}"

    def prompt(self, llm: TextGenerator, entry: Entry | None) -> str:
        text = self.domain.plain_prompt(self.problem)
        if entry is not None:
            text = CONCEPT_TRIAL_PROMPT.format(concept=entry_shown(entry), problem=text)
        return llm.render_chat([ChatMessage(role="user", content=text)])

    def solved(self, text: str) -> bool:
        answer = self.domain.plain_answer(text, self.problem)
        return answer is not None and self.domain.score(self.problem, [answer]) >= 1.0


@dataclass
class ConceptTrials:
    """Held problems per family and the model's own results on them, for one controller's run."""

    held_problems: HeldProblems
    budgets: Budgets
    _without: dict[str, bool] = field(default_factory=dict)

    async def held(self, problem: Problem) -> list[Problem]:
        """Up to ``concept_trial_problems`` problems of the family with gold answers, never ``problem`` itself."""
        pool = await self.held_problems(problem)
        held = [p for p in pool if p.gold is not None and p.id != problem.id and p.prompt != problem.prompt]
        return held[: self.budgets.concept_trial_problems]

    async def run(self, llm: TextGenerator, problem: Problem, entries: Sequence[Entry], trace: Trace
                  ) -> list[TrialResult]:
        """Each entry's trial on ``problem``'s held problems ([] when there are none); every generation at once."""
        held = [_Held.of(p, self.budgets) for p in await self.held(problem)]
        if not held or not entries:
            return []
        fresh = [h for h in held if h.key not in self._without]
        asked: list[tuple[_Held, Entry | None]] = [(h, None) for h in fresh]
        asked += [(h, e) for e in entries for h in held]
        outs = await llm.agenerate([h.prompt(llm, c) for h, c in asked], [h.params for h, _ in asked])
        for out in outs:
            trace.charge_completion("learn", out)
        solved = [h.solved(o.text) for (h, _), o in zip(asked, outs, strict=True)]
        self._without.update((h.key, ok) for h, ok in zip(fresh, solved[: len(fresh)], strict=True))
        without = sum(self._without[h.key] for h in held)
        results = []
        for i, entry in enumerate(entries):
            start = len(fresh) + i * len(held)
            with_concept = sum(solved[start : start + len(held)])
            results.append(TrialResult(concept=entry_name(entry), with_concept=with_concept, without=without, n=len(held),
                                       admitted=with_concept - without >= self.budgets.concept_min_gain))
        return results

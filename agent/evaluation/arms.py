"""The arms of an ablation and the one that has no controller: the model alone.

``plain`` is the baseline every other arm is compared with, so it is built to be
what a user would do without mnemos: the chat template, a standard
chain-of-thought prompt, one generation, the answer taken from ``\\boxed{}`` (or
the last number) and graded by the same math verifier the batch runner uses.
What it asks and reads is its family's (``Domain.plain_prompt``/``plain_answer``):
ARC asks for the output grid(s) directly and scores them by the official rule.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, cast

from pydantic import BaseModel, Field

from agent.config import MemoryMode, Settings
from agent.llm import ChatMessage, GenParams, TextGenerator
from tools.domains import get_domain
from tools.problem import Problem, Verifier

Arm = Literal["plain", "off", "scaffold", "frozen", "learning"]
ARMS: tuple[Arm, ...] = ("plain", "off", "scaffold", "frozen", "learning")
#: Arms that read the memory learned on the training part.
SNAPSHOT_ARMS: frozenset[str] = frozenset({"frozen"})
#: Arms with a memory worth showing: the training snapshot as the frozen arm read it, and what the learning arm
#: wrote from a cold start (it starts empty, as Dynamic Cheatsheet's cumulative mode does, and learns on the dev
#: stream itself: gold-free where the question can be checked, else by practice problems the family generates).
MEMORY_ARMS: frozenset[str] = frozenset({"frozen", "learning"})
#: Arms that get a store of their own under runs/NAME/ARM-store (the snapshot's copy, or an empty one).
OWN_STORE_ARMS: frozenset[str] = frozenset({"scaffold", "frozen", "learning"})
#: What every arm must share for the comparison to mean anything; a resumed evaluation must keep it.
SETUP_FIELDS = ("model", "max_tokens", "temperature", "top_p", "seed")


def run_id(name: str, part: str) -> str:
    """The batch run id of an evaluation's arm (or ``train``): its episodes and summary are filed under it."""
    return f"{name}-{part}"


def parse_arms(text: str) -> list[Arm]:
    """``frozen,plain`` -> the arms in the order given, which is the order they run in (put the cheap,
    telling arm first); reports list them in the canonical order. Unknown or repeated names are an error."""
    names = [a.strip() for a in text.split(",") if a.strip()]
    unknown = [a for a in names if a not in ARMS]
    if unknown or not names:
        raise ValueError(f"unknown arm(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(ARMS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"arm listed twice in {text!r}")
    return cast(list[Arm], names)


def memory_mode(arm: Arm) -> MemoryMode:
    """The controller's memory mode for an arm (``plain`` runs no controller; its episodes say ``off``).

    ``scaffold`` is ``frozen`` on an empty memory: the memory arm's prompts, tools and steps, nothing
    remembered, so the memory's own effect is frozen minus scaffold.
    """
    if arm == "plain":
        return "off"
    return "frozen" if arm == "scaffold" else arm


class PlainResult(BaseModel):
    """What the batch runner reads from a solve (the fields :class:`agent.controller.SolveResult` shares)."""

    problem_id: str
    answer: str | None
    attempts: list[str] = Field(default_factory=list)
    end_reason: str
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = 0.0
    trace: dict[str, Any] = Field(default_factory=dict)


def plain_problem(problem: Problem) -> Problem:
    """The problem as the plain arm sees it (its family decides: ARC tasks are scored as grids)."""
    return get_domain(problem.domain).plain_problem(problem)


PlainSolver = Callable[[Problem, Verifier | None], Awaitable[PlainResult]]


def plain_solver(llm: TextGenerator, settings: Settings) -> PlainSolver:
    """An async batch :data:`~agent.batch.runner.Solver` that asks the model once, with no controller and no tags.

    Async, so every problem's request joins the engine's continuous batch as soon as it is made.
    """
    params = GenParams(max_tokens=settings.max_tokens, temperature=settings.temperature, top_p=settings.top_p,
                       seed=settings.seed if settings.temperature > 0 else None)

    async def solve(problem: Problem, verifier: Verifier | None) -> PlainResult:
        t0 = time.perf_counter()
        domain = get_domain(problem.domain)
        prompt = llm.render_chat([ChatMessage(role="user", content=domain.plain_prompt(problem))])
        cap = domain.max_tokens(problem)
        own = params.model_copy(update={"max_tokens": min(params.max_tokens, cap)}) if cap else params
        out = (await llm.agenerate([prompt], own))[0]
        answer = domain.plain_answer(out.text, problem)
        end = "answer" if answer is not None else ("length" if out.finish_reason == "length" else "no_answer")
        return PlainResult(
            problem_id=problem.id, answer=answer, attempts=[answer] if answer is not None else [], end_reason=end,
            prompt_tokens=out.prompt_tokens, generated_tokens=out.generated_tokens, seconds=time.perf_counter() - t0,
            trace={"arm": "plain", "text": out.text, "finish_reason": out.finish_reason,
                   "cached_prompt_tokens": out.cached_tokens},
        )

    return solve

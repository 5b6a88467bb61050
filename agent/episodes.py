"""Episodes, the record of one solved problem: built here from a solve's result, written here, and nowhere else.

The batch runner, the API's single solves and the eval's arms all record what
they solved through :func:`awrite_episode`, so scoring, labels and the write
itself (in a worker thread, so a write waiting on a database lock never stalls
the solves on the loop) are the same for each.
"""

from __future__ import annotations

import asyncio
import traceback
from typing import Any, Protocol

from pydantic import BaseModel, Field

from agent.config import MemoryMode
from memory.schemas import Episode
from tools.domains import VerifyMode, get_domain
from tools.problem import Problem


class RunLabels(BaseModel):
    """What every episode of a run is labelled with."""

    run_id: str = Field(min_length=1)
    memory_mode: MemoryMode = "off"
    verify: VerifyMode = Field("domain", description="Checker handed to the solver: the domain's gold-free one, "
                               "the gold answer (building memory from a training split), or off.")


class EpisodeSink(Protocol):
    """The part of ``memory.EpisodeStore`` the runner uses."""

    def add(self, e: Episode) -> Episode: ...

    def find(self, run_id: str, problem_id: str) -> Episode | None: ...


def episode_from_result(problem: Problem, result: Any, config: RunLabels, seconds: float) -> Episode:
    """Score a solver result against the gold answer and turn it into the episode that records it."""
    attempts = [a for a in (getattr(result, "attempts", None) or []) if a]
    answer = getattr(result, "answer", None)
    if answer and (not attempts or attempts[-1] != answer):
        attempts.append(answer)
    score = float(get_domain(problem.domain).score(problem, attempts))
    trace = getattr(result, "trace", None)
    trace_dict = trace.model_dump(mode="json") if hasattr(trace, "model_dump") else dict(trace or {})
    trace_dict.update(
        memory_mode=config.memory_mode,
        verify=config.verify,
        end_reason=getattr(result, "end_reason", ""),
        scored_answers=attempts,
        solver_mode=getattr(result, "mode", None),
    )
    if hasattr(trace, "cached_tokens"):
        trace_dict["cached_prompt_tokens"] = trace.cached_tokens
    return Episode(
        run_id=config.run_id,
        problem_id=problem.id,
        domain=problem.domain,
        input=problem.prompt,
        trace=trace_dict,
        answer=answer,
        verdict="correct" if score >= 1.0 else "wrong",
        score=score,
        prompt_tokens=int(getattr(result, "prompt_tokens", 0) or 0),
        generated_tokens=int(getattr(result, "generated_tokens", 0) or 0),
        seconds=float(getattr(result, "seconds", 0.0) or seconds),
        concepts_offered=list(getattr(result, "concepts_offered", []) or []),
        concepts_used=list(getattr(result, "concepts_used", []) or []),
        subroutines_offered=list(getattr(result, "subroutines_offered", []) or []),
        subroutines_used=list(getattr(result, "subroutines_used", []) or []),
    )


def error_episode(problem: Problem, exc: BaseException, config: RunLabels, seconds: float) -> Episode:
    return Episode(
        run_id=config.run_id,
        problem_id=problem.id,
        domain=problem.domain,
        input=problem.prompt,
        trace={
            "memory_mode": config.memory_mode,
            "end_reason": "error",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": "".join(traceback.format_exception(exc))[-4000:],
        },
        verdict="error",
        seconds=seconds,
    )


async def awrite_episode(store: EpisodeSink, episode: Episode) -> Episode:
    """Write ``episode`` (off the event loop) and return it as stored, with its id."""
    return await asyncio.to_thread(store.add, episode)

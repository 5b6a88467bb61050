"""``<subq>``: stored procedures (subroutines) for a sub-question the model states, from procedural memory."""

from __future__ import annotations

import asyncio
from typing import Any

from agent.controller.state import Part, SolveState, ToolCall
from agent.controller.tags import OPTIONS, TagSpec
from agent.controller.toolbox.base import Tool, served
from memory.schemas import Subroutine
from memory.subroutines import SubroutineStore

SUBQ = TagSpec(name="subq", node="retrieve", budget="retrievals", block=OPTIONS)
NO_OPTIONS = "(no stored procedure matches)"


def option_lines(options: list[tuple[int, str, str]]) -> str:
    """Stored procedures as the model sees them (the subroutine kind's own form)."""
    return "\n".join(SubroutineStore.shown(i, Subroutine(question=q, procedure=p)) for i, q, p in options)


def options_part(opts: list[tuple[int, str, str]]) -> Part:
    text = OPTIONS.render(option_lines(opts)) if opts else OPTIONS.render(NO_OPTIONS, inner="")
    return Part(kind=OPTIONS.name, text=text)


async def retrieve_options(ctx: Any, query: str, trace: Any) -> Part | None:
    """Stored procedures for ``query`` that clear the relevance bar (``ctx``: the run's ``RunContext``); None if none."""
    hits = []
    if ctx.read_memory and ctx.memory is not None:
        hits = await asyncio.to_thread(ctx.memory.subroutines.search, query, ctx.budgets.subroutine_top_k,
                                       min_score=ctx.budgets.min_relevance)
    opts = [(h.id, h.item.question, h.item.procedure) for h in hits]
    trace.subroutines_offered.extend(i for i, _, _ in opts if i not in trace.subroutines_offered)
    trace.tool_calls.append(ToolCall(node="retrieve", kind="subroutines", input=query, ids=[i for i, _, _ in opts],
                                     output=f"{len(opts)} options"))
    return options_part(opts) if opts else None


async def retrieve(state: SolveState, runtime: Any) -> dict[str, Any]:
    """``<subq>``: stored procedures for the sub-question."""
    trace = state.trace.model_copy(deep=True)
    part = await retrieve_options(runtime.context, state.request_body, trace)
    return served(state, trace, [part or options_part([])], state.counters.bump(SUBQ.budget))


TOOL = Tool(
    spec=SUBQ,
    line=f"{SUBQ.open}a smaller sub-question{SUBQ.close} shows stored procedures for it, inside "
         f"{OPTIONS.open}...{OPTIONS.close}; follow one only if it fits.",
    run=retrieve,
    applies=lambda document, parts: any(p.kind == OPTIONS.name for p in parts),
)

"""The controller's LangGraph: nodes wired by small routing functions over the state.

    START -> select_concepts -> prime -> think <-> (one node per registered tool in toolbox/ | fold)
    think -> finalize? -> verify -> retry -> prime ... | learn -> END

Every node is wrapped once to record its name, calls and wall time in the
trace, so per-node cost is observable without each node timing itself.
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.types import Checkpointer

from agent.controller import nodes
from agent.controller.context import RunContext
from agent.controller.state import NodeStat, SolveState
from agent.controller.toolbox import TOOLS, tag_table
from agent.controller.toolbox.base import NodeFn


def instrument(name: str, fn: NodeFn) -> NodeFn:
    async def run(state: SolveState, runtime: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        update = await fn(state, runtime) or {}
        trace = update.get("trace") or state.trace.model_copy(deep=True)
        trace.path.append(name)
        stat = trace.node_stats.setdefault(name, NodeStat())
        stat.calls += 1
        stat.seconds += time.perf_counter() - t0
        if update.get("attempt_end") and not state.attempt_end:
            trace.end_reason = update["attempt_end"]
        return {**update, "trace": trace}

    run.__name__ = name
    return run


def budgeted(budget: str, fn: NodeFn) -> NodeFn:
    """A tool node that first checks its tag's per-attempt budget; a spent budget ends the attempt."""

    async def run(state: SolveState, runtime: Any) -> dict[str, Any]:
        if state.counters.spent(budget, runtime.context.budgets):
            return {"attempt_end": f"budget:{budget}", "request": None}
        return await fn(state, runtime)

    return run


def needs_fold(state: SolveState, ctx: RunContext) -> bool:
    return ctx.fold and ctx.kv_budget is not None and ctx.llm.count_tokens(ctx.live_prompt(state)) > ctx.kv_budget


def route_to_think(state: SolveState, runtime: Any) -> str:
    if state.attempt_end is not None:
        return "verify" if state.answer is not None else "finalize"
    return "fold" if needs_fold(state, runtime.context) else "think"


def route_after_think(state: SolveState, runtime: Any) -> str:
    if state.attempt_end is not None:
        return "verify" if state.answer is not None else "finalize"
    routes = tag_table().routes
    if state.request in routes:
        return routes[state.request]
    return route_to_think(state, runtime)


def route_after_verify(state: SolveState) -> str:
    return "learn" if state.done else "retry"


AFTER_STEP = ["think", "fold", "verify", "finalize"]


def build_graph(checkpointer: Checkpointer | None = None):
    g = StateGraph(SolveState, context_schema=RunContext)
    for name in ("select_concepts", "prime", "think", "fold", "finalize", "verify", "retry", "learn"):
        g.add_node(name, instrument(name, getattr(nodes, name)))
    tool_nodes = tag_table().tool_nodes
    for tool in TOOLS:
        name, budget = tool.spec.node, tool.spec.budget
        if name is not None and name not in g.nodes:
            g.add_node(name, instrument(name, budgeted(budget, tool.run) if budget else tool.run))
    g.add_edge(START, "select_concepts")
    g.add_edge("select_concepts", "prime")
    g.add_conditional_edges("prime", route_to_think, AFTER_STEP)
    g.add_conditional_edges("think", route_after_think, [*tool_nodes, *AFTER_STEP])
    for name in (*tool_nodes, "fold"):
        g.add_conditional_edges(name, route_to_think, AFTER_STEP)
    g.add_edge("finalize", "verify")
    g.add_conditional_edges("verify", route_after_verify, ["learn", "retry"])
    g.add_edge("retry", "prime")
    g.add_edge("learn", END)
    return g.compile(checkpointer=checkpointer)


def recursion_limit(ctx: RunContext) -> int:
    """Enough supersteps for every budget to be spent, so budgets, not LangGraph, end a trace."""
    b = ctx.budgets
    tag_calls = sum(getattr(b, name) for name in tag_table().tag_budgets)
    per_attempt = 2 * b.segments + tag_calls + b.repeat_recalls + 2 * b.segments + 8
    return (b.retries + 1) * per_attempt + 8

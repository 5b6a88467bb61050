"""``<recall>``: verbatim evidence from the problem's document, searched or copied under a verbatim constraint."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from agent.controller.copying import accept
from agent.controller.state import EvidenceRecord, Part, SolveState, ToolCall
from agent.controller.tags import EVIDENCE, TagSpec
from agent.controller.toolbox.base import Tool, served

RECALL = TagSpec(name="recall", node="recall", budget="recalls", block=EVIDENCE)
NOTE_NO_PASSAGE = "\n(no matching passage in the document)\n"
NOTE_REPEATED_RECALL = "\n(already recalled above; use that evidence or answer)\n"


def normalise_query(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


async def recall_evidence(state: SolveState, ctx: Any, query: str,
                          trace: Any) -> tuple[list[Part], list[EvidenceRecord]]:
    """Evidence for ``query`` (``ctx`` is the run's ``RunContext``): searched, or copied by the model verbatim.

    A passage already shown in this solve (primed or recalled) is not shown again: the search skips it.
    """
    records: list[EvidenceRecord] = []
    if ctx.copier is not None:
        params = await asyncio.to_thread(ctx.copier.params, query, ctx.index)
        if params is not None:
            prompt = ctx.live_prompt(state, f"\n{EVIDENCE.open}")
            [out] = await ctx.llm.agenerate([prompt], params)
            trace.charge_completion("recall", out)
            rec = accept(out.text, query, ctx.index, ctx.copier.method)
            trace.tool_calls.append(ToolCall(node="recall", kind=ctx.copier.method, input=query, output=out.text[:300],
                                             ok=rec is not None))
            if rec is not None:
                records = [rec]
            else:
                trace.notes.append(f"copy rejected (not verbatim): {out.text[:80]!r}")
    if not records:
        shown = [(r.source, r.start) for r in trace.evidence]
        records = await asyncio.to_thread(ctx.index.search, query, ctx.budgets.evidence_spans, shown)
        trace.tool_calls.append(ToolCall(node="recall", kind="search", input=query,
                                         output=f"{len(records)} spans", ok=bool(records)))
    parts = [Part(kind=EVIDENCE.name, text=EVIDENCE.render(r.text)) for r in records]
    if not parts:
        parts = [Part(kind="note", text=NOTE_NO_PASSAGE)]
    return parts, records


async def recall(state: SolveState, runtime: Any) -> dict[str, Any]:
    """``<recall>``: verbatim evidence for the query; a repeated query gets a note, and too many end the attempt."""
    ctx, used = runtime.context, state.counters
    query = normalise_query(state.request_body)
    trace = state.trace.model_copy(deep=True)
    if not query or query in used.recall_queries:
        used = used.bump("repeats")
        trace.tool_calls.append(ToolCall(node="recall", kind="repeat", input=state.request_body, ok=False))
        note = Part(kind="note", text=NOTE_REPEATED_RECALL)
        end = {"attempt_end": "loop:repeated_recall"} if used.repeats >= ctx.budgets.repeat_recalls else {}
        return {"trace": trace, "parts": [*state.parts, note], "counters": used, "request": None, **end}
    parts, records = await recall_evidence(state, ctx, state.request_body, trace)
    trace.evidence += records
    return served(state, trace, parts, used.bump(RECALL.budget, recall_queries=[*used.recall_queries, query]))


TOOL = Tool(
    spec=RECALL,
    line=f"{RECALL.open}a name, place or phrase{RECALL.close} shows the sentences of the document that contain "
         f"it, quoted exactly inside {EVIDENCE.open}...{EVIDENCE.close}; recall each new person or place your "
         "reasoning moves to.",
    run=recall,
    applies=lambda document, parts: bool(document),
)

"""A stored trace as one readable timeline, cut to a size a report page can carry.

A trace keeps segments, tool calls, evidence and verdicts in separate lists, each
in the order it was written; ``path`` is the order the controller's nodes ran.
Walking the path and taking from each list what that node wrote puts them back
into one sequence, which is what a reader wants: what the model wrote, what
memory ran, what it answered and how it was judged, in the order it happened.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

from pydantic import BaseModel, Field

from memory.schemas import Episode

ItemKind = Literal["segment", "output", "procedure", "tool", "evidence", "verdict", "note", "branch"]

#: Nodes that write a segment each time they run.
SEGMENT_NODES = frozenset({"think", "finalize"})


class TraceItem(BaseModel):
    kind: ItemKind
    title: str
    text: str = ""
    ok: bool | None = None


class TraceView(BaseModel):
    anchor: str = Field(description="The page's id for this trace.")
    episode_id: int | None
    arm: str
    problem_id: str
    input: str
    answer: str | None
    verdict: str
    score: float
    prompt_tokens: int
    generated_tokens: int
    seconds: float
    end_reason: str = ""
    path: list[str] = Field(default_factory=list)
    memory: list[str] = Field(default_factory=list, description="Memory offered and used, one line per kind.")
    items: list[TraceItem] = Field(default_factory=list)
    cut_chars: int = Field(0, description="Characters of item text left out to keep the page small.")
    cut_items: int = Field(0, description="Items left out whole once the trace's budget was spent.")


def _ids(ids: Any) -> str:
    return ", ".join(f"#{i}" for i in ids or []) or "-"


def _call_item(call: dict[str, Any]) -> TraceItem:
    kind = str(call.get("kind", ""))
    ids = call.get("ids") or []
    text = str(call.get("input", ""))
    if call.get("output"):
        text = f"{text}\n→ {call['output']}" if text else f"→ {call['output']}"
    if kind == "apply_procedure":
        return TraceItem(kind="procedure", title=f"procedure {_ids(ids)} run", text=text, ok=bool(call.get("ok")))
    title = f"{call.get('node', '')} · {kind}" + (f" · {_ids(ids)}" if ids else "")
    return TraceItem(kind="tool", title=title, text=text, ok=bool(call.get("ok", True)))


def _segment_item(seg: dict[str, Any]) -> TraceItem:
    flags = [seg.get("tag") or "", "forced" if seg.get("forced") else "", "folded" if seg.get("folded") else "",
             *(seg.get("violations") or [])]
    shown = ", ".join(f for f in flags if f)
    title = (f"segment {seg.get('index', '?')} · attempt {seg.get('attempt', 0)} · "
             f"{seg.get('generated_tokens', 0)} tok · {seg.get('finish_reason', '')}" + (f" · {shown}" if shown else ""))
    return TraceItem(kind="segment", title=title, text=str(seg.get("text", "")))


def _evidence_item(ev: dict[str, Any]) -> TraceItem:
    title = f"evidence · {ev.get('method', 'search')} {ev.get('source', '')}@{ev.get('start', 0)} for {ev.get('query', '')!r}"
    return TraceItem(kind="evidence", title=title, text=str(ev.get("text", "")))


def _verdict_item(att: dict[str, Any]) -> TraceItem:
    verdict = att.get("verdict") or {}
    ok = verdict.get("ok") if verdict else None
    judged = "not checked" if ok is None else ("accepted" if ok else "rejected")
    return TraceItem(kind="verdict", title=f"attempt {att.get('index', 0)} · {att.get('end_reason', '')} · {judged}",
                     text=f"answer: {att.get('answer')!r}" + (f"\n{verdict['feedback']}" if verdict.get("feedback") else ""),
                     ok=ok)


def timeline(trace: dict[str, Any]) -> list[TraceItem]:
    """Segments, tool calls, evidence and verdicts in the order the path ran them (branches after, each headed)."""
    if trace.get("error"):
        return [TraceItem(kind="note", title=f"error: {trace['error']}", text=str(trace.get("traceback", "")),
                          ok=False)]
    if "segments" not in trace and "text" in trace:
        return [TraceItem(kind="output", title=f"model output · {trace.get('finish_reason', '')}",
                          text=str(trace["text"]))]
    path = list(trace.get("path") or [])
    segments = deque(trace.get("segments") or [])
    calls = deque(trace.get("tool_calls") or [])
    attempts = deque(trace.get("attempts") or [])
    recalled = {str(c.get("input", "")) for c in calls if c.get("node") == "recall"}
    evidence = list(trace.get("evidence") or [])
    primed = deque(e for e in evidence if str(e.get("query", "")) not in recalled)
    by_query = [e for e in evidence if str(e.get("query", "")) in recalled]
    out: list[TraceItem] = []

    def take_calls(step: int) -> None:
        later = set(path[step + 1:])
        while calls and (calls[0].get("node") == path[step] or calls[0].get("node") not in later):
            call = calls.popleft()
            out.append(_call_item(call))
            if call.get("node") == "recall":
                for ev in [e for e in by_query if str(e.get("query", "")) == str(call.get("input", ""))]:
                    by_query.remove(ev)
                    out.append(_evidence_item(ev))

    for step, node in enumerate(path):
        if node == "prime":
            out += [_evidence_item(primed.popleft()) for _ in range(len(primed))]
        if node in SEGMENT_NODES and segments:
            out.append(_segment_item(segments.popleft()))
        take_calls(step)
        if node == "verify" and attempts:
            out.append(_verdict_item(attempts.popleft()))
    out += [_segment_item(s) for s in segments] + [_call_item(c) for c in calls]
    out += [_evidence_item(e) for e in [*primed, *by_query]] + [_verdict_item(a) for a in attempts]
    out += [TraceItem(kind="note", title="note", text=str(n)) for n in trace.get("notes") or []]
    for i, branch in enumerate(trace.get("branches") or []):
        chosen = " (chosen)" if trace.get("chosen_branch") == i else ""
        out.append(TraceItem(kind="branch", title=f"branch {i}{chosen}"))
        out += timeline(branch)
    return out


def _squeeze(text: str, limit: int) -> tuple[str, int]:
    """``text`` within ``limit`` characters, its middle cut out (the start says what was tried, the end what came
    of it); returns the text and how many characters went."""
    if len(text) <= limit:
        return text, 0
    head = max(0, limit * 2 // 3)
    tail = max(0, limit - head)
    cut = len(text) - head - tail
    return f"{text[:head]}\n… [{cut:,} characters cut] …\n{text[len(text) - tail:] if tail else ''}", cut


def cut_items(items: list[TraceItem], *, total: int, each: int) -> tuple[list[TraceItem], int, int]:
    """At most ``each`` characters of any item's text and ``total`` over the trace; once the total is spent the
    remaining items are left out. Returns the kept items, the characters cut and the items left out."""
    kept: list[TraceItem] = []
    left, cut = total, 0
    for n, item in enumerate(items):
        if left <= 0:
            return kept, cut + sum(len(i.text) for i in items[n:]), len(items) - n
        text, lost = _squeeze(item.text, min(each, left))
        kept.append(item.model_copy(update={"text": text}))
        left -= len(text)
        cut += lost
    return kept, cut, 0


def _memory_lines(episode: Episode) -> list[str]:
    trace = episode.trace
    lines = []
    for kind in ("procedures", "concepts", "subroutines"):
        offered = getattr(episode, f"{kind}_offered", None) or trace.get(f"{kind}_offered") or []
        used = getattr(episode, f"{kind}_used", None) or trace.get(f"{kind}_used") or []
        if offered or used:
            lines.append(f"{kind}: offered {_ids(offered)}; used {_ids(used)}")
    return lines


def trace_view(episode: Episode, arm: str, anchor: str, *, total: int, each: int) -> TraceView:
    """One episode's trace as a cut timeline with its outcome, tokens and memory use."""
    items, cut_chars, cut_count = cut_items(timeline(episode.trace), total=total, each=each)
    shown, lost = _squeeze(episode.input, each)
    return TraceView(
        anchor=anchor, episode_id=episode.id, arm=arm, problem_id=episode.problem_id, input=shown,
        answer=episode.answer, verdict=episode.verdict, score=episode.score, prompt_tokens=episode.prompt_tokens,
        generated_tokens=episode.generated_tokens, seconds=episode.seconds,
        end_reason=str(episode.trace.get("end_reason", "")), path=list(episode.trace.get("path") or []),
        memory=_memory_lines(episode), items=items, cut_chars=cut_chars + lost, cut_items=cut_count,
    )

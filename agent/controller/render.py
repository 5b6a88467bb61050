"""Plain-text rendering of a :class:`Trace` for ``mnemos trace show`` and live display."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.controller.state import Trace


def _short(text: str, n: int = 400) -> str:
    text = text.strip()
    return text if len(text) <= n else text[: n - 3] + "..."


def render_trace(t: Trace, indent: str = "") -> str:
    out = [
        f"{indent}problem {t.problem_id}  thread {t.thread_id or '-'}  mode {t.mode}  recall {t.recall_mode}",
        f"{indent}end: {t.end_reason or '-'}   tokens: {t.prompt_tokens} prompt / {t.generated_tokens} generated",
        f"{indent}path: {' > '.join(t.path)}",
        (f"{indent}concepts offered {t.concepts_offered} used {t.concepts_used}; "
         f"subroutines offered {t.subroutines_offered} used {t.subroutines_used}"),
    ]
    if t.node_stats:
        out.append(f"{indent}per node:")
        for name, s in t.node_stats.items():
            out.append(f"{indent}  {name:<16} calls {s.calls:>3}  {s.seconds:8.3f}s  "
                       f"tokens {s.prompt_tokens}/{s.generated_tokens}")
    for seg in t.segments:
        flags = ", ".join(x for x in [seg.tag or "", "forced" if seg.forced else "", "folded" if seg.folded else "",
                                      *seg.violations] if x)
        out.append(f"{indent}-- segment {seg.index} (attempt {seg.attempt}, {seg.generated_tokens} tok, "
                   f"{seg.finish_reason}{'; ' + flags if flags else ''})")
        out.append(indent + "   " + _short(seg.text).replace("\n", "\n" + indent + "   "))
    for ev in t.evidence:
        out.append(f"{indent}evidence [{ev.method} {ev.source}@{ev.start}] for {ev.query!r}: {_short(ev.text, 200)}")
    for call in t.tool_calls:
        ok = "ok" if call.ok else "FAIL"
        out.append(f"{indent}tool {call.node}/{call.kind} {ok} {call.ids or ''} {_short(call.output, 120)}")
    for a in t.attempts:
        v = "-" if a.verdict is None else ("ok" if a.verdict.ok else f"wrong: {_short(a.verdict.feedback, 120)}")
        out.append(f"{indent}attempt {a.index}: answer {a.answer!r} ({a.end_reason}) verdict {v}")
    for note in t.notes:
        out.append(f"{indent}note: {note}")
    for i, b in enumerate(t.branches):
        out.append(f"{indent}== branch {i}")
        out.append(render_trace(b, indent + "   "))
    return "\n".join(out)

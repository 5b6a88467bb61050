"""The graph's nodes: each reads the state and returns the fields it changes.

Nodes never mutate the state they are given (LangGraph checkpoints it); the
trace is copied, extended and returned. Nodes are coroutines: generation is
awaited on the engine, and blocking work (memory and evidence search, which
embed; the sandbox; verifiers) runs in a worker thread, so many problems share
one event loop and one continuously batched engine. Budget checks live in the node that
would spend the budget, and a spent budget sets ``attempt_end`` instead of
raising, so the graph always reaches an end.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from langgraph.runtime import Runtime

from agent.controller import learning
from agent.controller.context import RunContext
from agent.controller.parsing import ParsedSegment, neutralise, parse_segment, strip_tags
from agent.controller.prompts import (
    CONCEPT_CHOICE_PROMPT,
    CONCEPT_CHOICES,
    FOLD_FALLBACK,
    FOLD_PROMPT,
    RETRY_PROMPT,
    primer_text,
    problem_text,
)
from agent.controller.state import AttemptRecord, Part, Segment, SolveState, ToolCall
from agent.controller.tags import ANSWER, FOLDED
from agent.controller.toolbox import BY_NAME, tag_table
from agent.controller.toolbox.recall import recall_evidence
from agent.controller.toolbox.subq import SUBQ, options_part, retrieve_options
from agent.llm import ChatMessage, GenParams
from memory.concepts import ConceptStore
from tools.domains import get_domain
from tools.problem import Verdict

Update = dict[str, Any]
Ctx = Runtime[RunContext]


async def select_concepts(state: SolveState, runtime: Ctx) -> Update:
    """Embedding shortlist from concept memory, then one constrained yes/no per candidate (batched)."""
    ctx = runtime.context
    if not ctx.read_memory or ctx.memory is None or state.concepts_ready:
        return {}
    p = state.problem
    query = f"{problem_text(p)}\n{p.context[:1000]}"
    hits = await asyncio.to_thread(ctx.memory.concepts.search, query, ctx.budgets.concept_shortlist,
                                   min_score=ctx.budgets.min_relevance)
    trace = state.trace.model_copy(deep=True)
    trace.concepts_offered = [h.id for h in hits]
    if not hits:
        return {"trace": trace}
    prompts = [
        ctx.llm.render_chat([ChatMessage(role="user", content=CONCEPT_CHOICE_PROMPT.format(
            problem=problem_text(p), name=h.item.name, description=h.item.description, cues="; ".join(h.item.cues)))])
        for h in hits
    ]
    outs = await ctx.llm.agenerate(prompts, GenParams(max_tokens=2, choice=CONCEPT_CHOICES))
    chosen = _within_memory_budget(ctx, [h for h, o in zip(hits, outs, strict=True)
                                         if o.text.strip().lower() == CONCEPT_CHOICES[0]])
    for o in outs:
        trace.charge_completion("select_concepts", o)
    trace.concepts_used = [h.id for h in chosen]
    trace.tool_calls.append(ToolCall(node="select_concepts", kind="concept_choice", input=query[:200],
                                     output=", ".join(h.item.name for h in chosen), ids=trace.concepts_used))
    return {"trace": trace, "concepts_text": "\n".join(
        ConceptStore.shown(h.id, h.item) for h in chosen)}


#: Memory shown per prompt: at most this many entries and tokens (ArcMemo-sized; more crowds out the problem).
MEMORY_ENTRIES, MEMORY_TOKENS = 3, 300


def _within_memory_budget(ctx: RunContext, hits: list[Any]) -> list[Any]:
    """The first hits (best first) that fit :data:`MEMORY_ENTRIES` and :data:`MEMORY_TOKENS`."""
    kept, used = [], 0
    for h in hits[:MEMORY_ENTRIES]:
        cost = ctx.llm.count_tokens(ConceptStore.shown(h.id, h.item))
        if used + cost > MEMORY_TOKENS:
            break
        kept.append(h)
        used += cost
    return kept


async def prime(state: SolveState, runtime: Ctx) -> Update:
    """Before the first segment: evidence for the question and procedures for the problem, as a head start."""
    ctx = runtime.context
    if not ctx.prime and not state.preset_options:
        return {"tools": _applicable_tools(ctx, state, [])}
    trace = state.trace.model_copy(deep=True)
    parts, counters = list(state.parts), state.counters
    question = problem_text(state.problem)
    evidence = state.evidence_text
    if ctx.prime and state.problem.context and ctx.budgets.recalls > 0 and not evidence:
        records = await asyncio.to_thread(ctx.index.chain, state.problem.prompt, ctx.budgets.evidence_spans,
                                          ctx.budgets.prime_hops)
        if ctx.copier is not None:  # model-copy recall: the model's own verbatim-constrained copy comes first
            _, copied = await recall_evidence(state, ctx, state.problem.prompt, trace)
            copied = [c for c in copied if c.method == ctx.copier.method]
            taken = {(c.source, c.start) for c in copied}
            records = copied + [r for r in records if (r.source, r.start) not in taken]
        trace.tool_calls.append(ToolCall(node="prime", kind="search", input=state.problem.prompt,
                                         output=f"{len(records)} spans", ok=bool(records)))
        trace.evidence += records
        evidence = primer_text([r.text for r in records])
    if state.preset_options:
        parts.append(options_part(state.preset_options))
        trace.subroutines_offered.extend(i for i, _, _ in state.preset_options if i not in trace.subroutines_offered)
    elif (ctx.prime and ctx.read_memory and ctx.memory is not None and ctx.budgets.retrievals > 0
          and (options := await retrieve_options(ctx, question, trace)) is not None):
        parts.append(options)
        counters = counters.bump(SUBQ.budget)
    return {"counters": counters, "trace": trace, "parts": parts, "evidence_text": evidence,
            "tools": _applicable_tools(ctx, state, parts)}


def _applicable_tools(ctx: RunContext, state: SolveState, parts: list[Part]) -> list[str]:
    """The offered tools that apply here, in the order they are offered (each tool's own test).

    Procedures from memory are called in ``<python>``, so showing them offers it.
    """
    tools = [t for t in ctx.offer if t in BY_NAME and BY_NAME[t].applies(state.problem.context, parts)]
    return [*tools, "python"] if state.preload and "python" not in tools else tools


async def think(state: SolveState, runtime: Ctx) -> Update:
    """Generate until a protocol tag closes, the segment budget ends or the model stops."""
    ctx, b, used = runtime.context, runtime.context.budgets, state.counters
    if used.spent("segments", b):
        return {"attempt_end": "budget:segments"}
    cap = get_domain(state.problem.domain).max_tokens(state.problem)
    remaining = min(b.tokens, cap or b.tokens) - used.tokens
    if remaining <= 0:
        return {"attempt_end": "budget:tokens"}
    prompt = ctx.live_prompt(state)
    max_tokens = min(b.segment_tokens, remaining)
    prompt_tokens = ctx.llm.count_tokens(prompt)
    if prompt_tokens + max_tokens > ctx.max_model_len:
        return {"attempt_end": "budget:context"}
    if ctx.kv_budget is not None and not ctx.fold:
        # Without folding nothing can leave the live context, so the budget caps it and then ends the attempt.
        max_tokens = min(max_tokens, ctx.kv_budget - prompt_tokens)
        if max_tokens <= 0:
            return {"attempt_end": "budget:kv"}
    [out] = await ctx.llm.agenerate([prompt], GenParams(max_tokens=max_tokens, stop=tag_table().stop_strings))
    # A model that begins a block only the controller writes is stopped there: what came before is kept, and
    # it is asked for its answer.
    forged_block = out.stop_reason if out.stop_reason in tag_table().forged_openers else None
    text, forged = neutralise(out.text.removesuffix(forged_block) if forged_block else out.text)
    if forged_block:
        parsed = ParsedSegment(violations=[f"forged:{forged_block}"])
    else:
        parsed = parse_segment(text, out.stop_reason, state.carry)
        parsed.violations += ["forged_tag"] if forged else []
    trace = state.trace.model_copy(deep=True)
    trace.charge_completion("think", out)
    seg = Segment(index=len(trace.segments), attempt=state.attempt, text=text, tag=parsed.tag, body=parsed.body,
                  finish_reason=out.finish_reason, violations=parsed.violations,
                  prompt_tokens=out.prompt_tokens, generated_tokens=out.generated_tokens, seconds=out.seconds)
    trace.segments.append(seg)
    upd: Update = {
        "trace": trace,
        "parts": [*state.parts, Part(kind="think", text=text, segment=seg.index)],
        "counters": used.bump("segments").bump("tokens", out.generated_tokens),
        "carry": parsed.open_tail,
        "request": parsed.tag,
        "request_body": parsed.body,
    }
    previous = [s for s in trace.segments[:-1] if s.attempt == state.attempt and not s.forced]
    domain = get_domain(state.problem.domain)
    if forged_block:
        upd.update(attempt_end="forged_block")
    elif parsed.tag == ANSWER.name:
        upd.update(answer=domain.final_answer(f"{ANSWER.open}{parsed.body}{ANSWER.close}") or parsed.body,
                   attempt_end="answer")
    elif parsed.tag is None and text.strip() and previous and previous[-1].text.strip() == text.strip():
        upd.update(attempt_end="loop:repeated_segment", request=None)
    elif parsed.tag is None and out.finish_reason != "length" and out.stop_reason is None:
        committed = domain.final_answer(_attempt_text(state) + text)
        upd.update(answer=committed, attempt_end="answer" if committed else "eos:no_answer")
    return upd


def _attempt_text(state: SolveState) -> str:
    """What the model wrote in this attempt so far (an ARC program may come long before the end)."""
    return "".join(p.text for p in state.parts if p.kind == "think")


async def fold(state: SolveState, runtime: Ctx) -> Update:
    """Replace older live parts by a model-written summary; their raw text stays recallable."""
    ctx, b = runtime.context, runtime.context.budgets
    live = [i for i, p in enumerate(state.parts) if p.live and p.kind != FOLDED.name]
    old = live[: len(live) - min(b.fold_keep_parts, len(live) - 1)] if live else []
    if not old:
        return {"attempt_end": "budget:kv"}
    text = "".join(state.parts[i].text for i in old)
    prompt = ctx.llm.render_chat([ChatMessage(role="user", content=FOLD_PROMPT.format(text=strip_tags(text)))])
    [out] = await ctx.llm.agenerate([prompt], GenParams(max_tokens=max(16, min(128, (ctx.kv_budget or 512) // 8))))
    trace = state.trace.model_copy(deep=True)
    trace.charge_completion("fold", out)
    summary, _ = neutralise(strip_tags(out.text) or FOLD_FALLBACK)
    parts = [p.model_copy() for p in state.parts]
    for i in old:
        parts[i].live = False
        if parts[i].segment is not None:
            trace.segments[parts[i].segment].folded = True
            ctx.index.add_source(f"segment:{parts[i].segment}", parts[i].text)
    parts.insert(old[0], Part(kind=FOLDED.name, text=FOLDED.render(summary)))
    trace.tool_calls.append(ToolCall(node="fold", kind="fold", input=f"{len(old)} parts", output=summary[:300]))
    return {"trace": trace, "parts": parts}


async def finalize(state: SolveState, runtime: Ctx) -> Update:
    """The attempt stopped without an answer: ask for one, briefly, and keep the stop reason."""
    ctx = runtime.context
    domain = get_domain(state.problem.domain)
    opener, closer = domain.forced_answer
    prompt = ctx.live_prompt(state, opener)
    cap = getattr(ctx.budgets, domain.force_budget)
    params = GenParams(max_tokens=cap, stop=[closer], include_stop=False)
    if ctx.llm.count_tokens(prompt) + params.max_tokens > ctx.max_model_len:
        return {}
    [out] = await ctx.llm.agenerate([prompt], params)
    trace = state.trace.model_copy(deep=True)
    trace.charge_completion("finalize", out)
    answer = domain.final_answer(f"{opener}{neutralise(out.text)[0]}{closer}") or None
    trace.segments.append(Segment(index=len(trace.segments), attempt=state.attempt, text=out.text, tag=ANSWER.name,
                                  body=answer or "", finish_reason=out.finish_reason, forced=True,
                                  prompt_tokens=out.prompt_tokens, generated_tokens=out.generated_tokens,
                                  seconds=out.seconds))
    return {"trace": trace, "answer": answer}


async def verify(state: SolveState, runtime: Ctx) -> Update:
    ctx = runtime.context
    trace = state.trace.model_copy(deep=True)
    verdict: Verdict | None = None
    if ctx.verifier is not None:
        t0 = time.perf_counter()
        if state.answer is None:
            verdict = Verdict(ok=False, feedback="no answer was given")
        else:
            try:
                verdict = await asyncio.to_thread(ctx.verifier, state.answer)
            except Exception as exc:  # noqa: BLE001 - a verifier crash is feedback, not a lost solve
                verdict = Verdict(ok=False, feedback=f"verifier error: {type(exc).__name__}: {exc}")
        trace.tool_calls.append(ToolCall(node="verify", kind="verify", input=state.answer or "", ok=verdict.ok,
                                         output=verdict.feedback[:300], seconds=time.perf_counter() - t0))
    trace.attempts.append(AttemptRecord(index=state.attempt, answer=state.answer,
                                        end_reason=state.attempt_end or "answer", verdict=verdict))
    _mark_used_subroutines(trace)
    answers = [*state.answers, state.answer] if state.answer is not None else list(state.answers)
    done = verdict is None or verdict.ok or state.attempt >= ctx.budgets.retries
    return {"trace": trace, "verdict": verdict, "answers": answers, "done": done}


async def retry(state: SolveState, runtime: Ctx) -> Update:
    """Start a new attempt showing the previous answer and the verifier's feedback."""
    fb = state.verdict.feedback if state.verdict else ""
    return state.next_attempt(RETRY_PROMPT.format(answer=state.answer or "(none)", feedback=fb or "(none)"))


async def learn(state: SolveState, runtime: Ctx) -> Update:
    ctx = runtime.context
    if not state.learn or ctx.memory is None:
        return {}
    trace = state.trace.model_copy(deep=True)
    trace.tool_calls += await learning.alearn(ctx.llm, ctx.memory, state.problem, state.answer, state.verdict, trace,
                                              ctx.trials)
    return {"trace": trace}


def _mark_used_subroutines(trace: Any) -> None:
    """A procedure counts as used when the model cites its tag (``S12``, not a prefix of ``S123``)."""
    text = " ".join(s.text for s in trace.segments)
    for sid in trace.subroutines_offered:
        if re.search(rf"\bS{sid}\b", text) and sid not in trace.subroutines_used:
            trace.subroutines_used.append(sid)

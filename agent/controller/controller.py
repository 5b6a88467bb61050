"""The public entry point: :class:`Controller` runs the graph for one problem and returns a :class:`SolveResult`."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from agent.blocking import blocking
from agent.config import Settings
from agent.controller import nodes
from agent.controller.checkpoint import default_checkpointer
from agent.controller.context import RunContext, kv_limits
from agent.controller.copying import EvidenceCopier, SentenceCopier, TokenCopier
from agent.controller.diversity import Candidate, pick
from agent.controller.evidence import EvidenceIndex
from agent.controller.graph import build_graph, recursion_limit
from agent.controller.procedures import (
    apply_procedures,
    apply_programs,
    check_pool_size,
    distill_procedure,
    keep_program,
    learn_procedures,
    learn_programs,
    preload,
)
from agent.controller.prompts import problem_text
from agent.controller.state import NodeStat, SolveResult, SolveState, Trace
from agent.controller.toolbox import BY_NAME, tag_table
from agent.controller.trials import ConceptTrials
from agent.llm import TextGenerator
from kvcache.budget import DEFAULT_CONTEXT
from memory.procedures import ProcedureStore
from memory.protocol import Memory
from tools.domains import get_domain
from tools.problem import Problem, Verdict, Verifier

log = logging.getLogger(__name__)


class Controller:
    """Solves problems with the think / recall / retrieve / verify / learn graph."""

    def __init__(self, llm: TextGenerator, memory: Memory | None, settings: Settings, checkpointer: Any = None, *,
                 embedder: Any = None):
        unknown = [t for t in settings.offer_tools if t not in BY_NAME]
        if unknown:
            raise ValueError(f"offer_tools: unknown tool(s) {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
        self.llm = llm
        self.memory = memory
        self.settings = settings
        self.budgets = settings.budgets
        self._owns_checkpointer = checkpointer is None
        self.checkpointer = checkpointer if checkpointer is not None else default_checkpointer(settings)
        self.graph = build_graph(self.checkpointer)
        enc = embedder if embedder is not None else getattr(getattr(memory, "concepts", None), "encoder", None)
        self._encode = enc.encode if enc is not None else None
        self.copier, self._copier_note = self._make_copier()
        self._index: tuple[str, EvidenceIndex] | None = None
        #: Observer called with (node name, state update) as each node finishes, for live display.
        self.on_node: Callable[[str, Any], None] | None = None
        self._checks: dict[tuple[str, int], list[Problem]] = {}
        self.trials = ConceptTrials(self._held_problems, self.budgets)

    def _make_copier(self) -> tuple[EvidenceCopier | None, str]:
        if self.settings.recall_mode != "model-copy":
            return None, ""
        if self.settings.copy_mechanism == "token":
            tok = self.llm.tokenizer
            if tok is not None:
                return TokenCopier(tok, self.budgets.copy_span_tokens), ""
            note = "token-level copy needs an engine tokenizer; using sentence-level copy"
            log.warning(note)
            return SentenceCopier(self.llm.count_tokens), note
        return SentenceCopier(self.llm.count_tokens), ""

    @property
    def read_memory(self) -> bool:
        return self.memory is not None and self.settings.memory_mode != "off"

    def _evidence_index(self, problem: Problem) -> EvidenceIndex:
        key = hashlib.sha1(f"{problem.id}\0{problem.prompt}\0{problem.context}".encode()).hexdigest()
        if self._index is None or self._index[0] != key:
            # With a document, evidence comes from it alone: the question's own sentences ("Answer with the
            # number only.") recalled back read as evidence and answered nothing.
            sources = {"context": problem.context} if problem.context else {"prompt": problem_text(problem)}
            self._index = (key, EvidenceIndex(sources, self._encode, tag_table().any_tag))
        return self._index[1]

    def _context(self, problem: Problem, verifier: Verifier | None) -> RunContext:
        kv_budget, fold = kv_limits(self.settings)
        return RunContext(llm=self.llm, budgets=self.budgets, index=self._evidence_index(problem),
                          max_model_len=int(self.llm.max_model_len or self.settings.max_model_len
                                            or DEFAULT_CONTEXT),
                          kv_budget=kv_budget, fold=fold,
                          memory=self.memory, read_memory=self.read_memory, verifier=verifier, copier=self.copier,
                          prime=self.settings.prime_recall, offer=tuple(self.settings.offer_tools), trials=self.trials)

    async def _run(self, initial: SolveState, verifier: Verifier | None, thread_id: str) -> SolveState:
        ctx = self._context(initial.problem, verifier)
        config = {"configurable": {"thread_id": thread_id}, "recursion_limit": recursion_limit(ctx)}
        snap = await self.graph.aget_state(config)
        if snap.values:
            saved = SolveState.model_validate(snap.values)
            if saved.problem.id != initial.problem.id:
                raise ValueError(f"thread {thread_id!r} belongs to problem {saved.problem.id!r}, "
                                 f"not {initial.problem.id!r}; use a new thread id")
            if not snap.next:
                if saved.done and saved.trace.path and saved.trace.path[-1] == "learn":
                    return saved
                # Interrupted (e.g. Ctrl-C) between supersteps: nothing is pending, yet nothing finished.
                return await self._execute(initial, config, ctx)
            for part in saved.parts:
                if not part.live and part.segment is not None:
                    ctx.index.add_source(f"segment:{part.segment}", part.text)
            return await self._execute(None, config, ctx)
        return await self._execute(initial, config, ctx)

    async def _execute(self, graph_input: SolveState | None, config: dict[str, Any], ctx: RunContext) -> SolveState:
        if self.on_node is None:
            return SolveState.model_validate(await self.graph.ainvoke(graph_input, config, context=ctx))
        async for update in self.graph.astream(graph_input, config, context=ctx, stream_mode="updates"):
            for node, values in update.items():
                self.on_node(node, values)
        return SolveState.model_validate((await self.graph.aget_state(config)).values)

    def _initial(self, problem: Problem, thread_id: str, learn: bool, mode: str, trace: Trace | None = None,
                 **extra: Any) -> SolveState:
        if trace is None:
            trace = Trace(problem_id=problem.id, thread_id=thread_id, mode=mode, recall_mode=self.settings.recall_mode)
        else:
            trace.mode = mode
        if self._copier_note:
            trace.notes.append(self._copier_note)
        return SolveState(problem=problem, trace=trace, learn=learn, **extra)

    async def asolve(self, problem: Problem, verifier: Verifier | None = None, thread_id: str | None = None,
                     learn: bool | None = None, reference: str | None = None) -> SolveResult:
        """Solve one problem; with a ``thread_id`` that crashed before, continue from its last checkpoint.

        ``reference`` is a right answer the caller vouches for (a training problem's reference
        solution, never a dev problem's): a learning solve distills it into a procedure. It is
        never shown to the solve itself.

        Many ``asolve`` calls may run concurrently on one event loop: each is
        its own graph run, and their engine requests share one continuous batch.
        """
        t0 = time.perf_counter()
        learn = (self.settings.memory_mode == "learning") if learn is None else learn
        learn = learn and self.read_memory
        thread_id = thread_id or f"{problem.id}:{uuid.uuid4().hex[:12]}"
        done, extra = await self._procedures_first(problem, thread_id, learn, reference)
        if done is not None:
            result = done
        elif self.settings.solve_mode == "diversity":
            result = await self._solve_diverse(problem, verifier, thread_id, learn)
        else:
            state = await self._run(self._initial(problem, thread_id, learn, "inject", **extra), verifier, thread_id)
            result = self._result(state)
            if learn and result.answer and result.verdict is not None and result.verdict.ok:
                if get_domain(problem.domain).program_answers:
                    await self._keep_program(problem, result)
                elif self.budgets.procedure_distill:
                    await self._distill(problem, result)
        result.seconds = time.perf_counter() - t0
        return result

    async def _distill(self, problem: Problem, result: SolveResult) -> None:
        """A checked answer of the model's own reasoning is the rare success a procedure is distilled from."""
        store = self._procedure_store(problem)
        if store is None or get_domain(problem.domain).verifier(problem) is None:
            return
        t0 = time.perf_counter()
        await distill_procedure(self.llm, store, problem, str(result.answer), await self._check_problems(problem),
                                result.trace, max_tokens=self.budgets.procedure_tokens,
                                temperature=max(self.settings.temperature, 0.8), seed=self._seed(problem),
                                portfolio=self.budgets.procedure_portfolio)
        result.trace.node_stats.setdefault("learn_procedures", NodeStat()).seconds += time.perf_counter() - t0
        result.trace.path.append("distill_procedure")
        result.prompt_tokens, result.generated_tokens = result.trace.prompt_tokens, result.trace.generated_tokens

    async def _keep_program(self, problem: Problem, result: SolveResult) -> None:
        """A verified program of a program-answer family (ARC) is itself the procedure: nothing to distill."""
        store = self._procedure_store(problem)
        if store is not None and result.answer and await asyncio.to_thread(
                keep_program, store, problem, str(result.answer), result.trace) is not None:
            result.trace.path.append("keep_program")

    async def _check_problems(self, problem: Problem, n: int | None = None) -> list[Problem]:
        """``n`` training problems of ``problem``'s family (by default as many as a new procedure is checked on)."""
        domain = get_domain(problem.domain)
        if n is None:
            n = check_pool_size(domain, self.budgets.procedure_checks)
        key = (domain.procedure_family(problem), n)
        if key not in self._checks:
            self._checks[key] = await asyncio.to_thread(domain.check_problems, n, problem)
        return self._checks[key]

    async def _held_problems(self, problem: Problem) -> list[Problem]:
        """A new concept's trial problems, one spare for the problem it came from, which is never one of them."""
        return await self._check_problems(problem, self.budgets.concept_trial_problems + 1)

    def _seed(self, problem: Problem) -> int:
        return self.settings.seed + int(hashlib.sha1(problem.id.encode()).hexdigest()[:6], 16)

    solve = blocking(asolve)

    def _procedure_store(self, problem: Problem) -> ProcedureStore | None:
        store = getattr(self.memory, "procedures", None) if self.read_memory else None
        domain = get_domain(problem.domain)
        if store is None or (domain.procedure_args(problem) is None and not domain.program_answers):
            return None
        return store

    async def _procedures_first(self, problem: Problem, thread_id: str, learn: bool, reference: str | None = None
                                ) -> tuple[SolveResult | None, dict[str, Any]]:
        """Stored procedures, then (learning) newly written ones, before any reasoning; see ``procedures``.

        Returns a finished result when one gave a checked answer (or when there is no fallback
        solve), else what the graph's first state carries: the procedures shown, their source
        for the jail, and the trace so far. A program-answer training task (ARC, with a ``reference``)
        learns by sampling only: the graph's write-verify-retry solved 0 of the 10 smallest training tasks
        it was tried on, at ~2,000 tokens each.
        """
        store = self._procedure_store(problem)
        if store is None:
            return None, {}
        trace = Trace(problem_id=problem.id, thread_id=thread_id, mode="procedures",
                      recall_mode=self.settings.recall_mode)
        if get_domain(problem.domain).program_answers:
            passed, end = await apply_programs(store, problem, trace, record=learn), "procedure"
            if not passed and learn:
                t0 = time.perf_counter()
                passed = await learn_programs(self.llm, store, problem, trace, samples=self.budgets.procedure_samples,
                                              max_tokens=self.budgets.procedure_tokens,
                                              temperature=max(self.settings.temperature, 0.8),
                                              seed=self._seed(problem), trusted=reference is not None)
                trace.node_stats.setdefault("learn_procedures", NodeStat()).seconds += time.perf_counter() - t0
                trace.path.append("learn_programs")
                end = "learned_procedure"
            if not passed and self.settings.fallback_solve and reference is None:
                return None, {"trace": trace}
            trace.path.insert(0, "procedures")
            trace.end_reason = end if passed else "no_procedure"
            verdict = Verdict(ok=True, score=1.0) if passed else None
            return SolveResult.of(problem.id, trace, passed[0] if passed else None, passed[::-1], verdict), {}
        answer, unchecked = await apply_procedures(store, problem, self.budgets.procedure_portfolio, trace,
                                                   record=learn, shown=self.budgets.procedures_shown,
                                                   top_k=self.budgets.procedure_top_k)
        end = "procedure"
        family = get_domain(problem.domain).procedure_family(problem)
        cap = self.budgets.learn_rounds if reference is None else 0
        if answer is None and learn and cap and await asyncio.to_thread(store.fruitless_rounds, family) >= cap:
            trace.notes.append(f"learning: {cap} rounds on {family} came to nothing; answering from memory only")
        elif answer is None and learn:
            t0 = time.perf_counter()
            answer = await learn_procedures(
                self.llm, store, problem, await self._check_problems(problem), trace,
                samples=self.budgets.procedure_samples, max_tokens=self.budgets.procedure_tokens,
                temperature=max(self.settings.temperature, 0.8), seed=self._seed(problem),
                portfolio=self.budgets.procedure_portfolio,
                reference=reference, distill=self.budgets.procedure_distill, trusted=reference is not None,
                repairs=self.budgets.procedure_repairs)
            trace.node_stats.setdefault("learn_procedures", NodeStat()).seconds += time.perf_counter() - t0
            trace.path.append("learn_procedures")
            end = "learned_procedure"
            if cap:
                await asyncio.to_thread(store.count_round, family, fruitful=answer is not None)
        if answer is not None or not self.settings.fallback_solve:
            trace.path.insert(0, "procedures")
            trace.end_reason = end if answer is not None else "no_procedure"
            verdict = Verdict(ok=True, score=1.0) if answer is not None else None
            return SolveResult.of(problem.id, trace, answer, [answer] if answer else [], verdict), {}
        if not unchecked:
            return None, {"trace": trace}
        shown = "\n".join(ProcedureStore.shown(p.id, p) for p in unchecked if p.id is not None)
        return None, {"trace": trace, "procedures_text": shown, "preload": preload(unchecked)}

    def _result(self, state: SolveState) -> SolveResult:
        t = state.trace
        if state.verdict is not None:
            t.end_reason = "verified" if state.verdict.ok else "retries_exhausted"
        elif not t.end_reason:
            t.end_reason = "answer"
        return SolveResult.of(state.problem.id, t, state.answer, list(state.answers), state.verdict)

    async def _solve_diverse(self, problem: Problem, verifier: Verifier | None, thread_id: str, learn: bool) -> SolveResult:
        """One branch per retrieved subroutine; the vote picks the answer, the winner's trace is learned from."""
        mode = f"diversity:{self.settings.diversity_vote}"
        hits = []
        if self.read_memory:
            hits = await asyncio.to_thread(self.memory.subroutines.search,  # type: ignore[union-attr]
                                           f"{problem_text(problem)}\n{problem.context[:500]}",
                                           self.budgets.subroutine_top_k)
        if len(hits) < 2:
            res = self._result(await self._run(self._initial(problem, thread_id, learn, "inject"), verifier, thread_id))
            res.trace.notes.append(f"diversity mode needs >= 2 stored subroutines, found {len(hits)}; ran inject")
            return res
        branches: list[SolveResult] = []
        shared: dict[str, Any] = {}
        shared_ids: tuple[list[int], list[int]] = ([], [])
        for i, h in enumerate(hits):
            init = self._initial(problem, f"{thread_id}/b{i}", False, mode,
                                 preset_options=[(h.id, h.item.question, h.item.procedure)], **shared)
            if shared:
                init.trace.concepts_offered, init.trace.concepts_used = shared_ids
            state = await self._run(init, verifier, f"{thread_id}/b{i}")
            if not shared:
                shared = {"concepts_text": state.concepts_text, "concepts_ready": True}
                shared_ids = (list(state.trace.concepts_offered), list(state.trace.concepts_used))
            branches.append(self._result(state))
        cands = [Candidate(answer=b.answer, ok=b.verdict.ok if b.verdict else None, tokens=b.generated_tokens,
                           subroutine_id=h.id) for b, h in zip(branches, hits, strict=True)]
        idx = pick(cands, self.settings.diversity_vote)
        win = branches[idx if idx is not None else 0]
        trace = Trace(problem_id=problem.id, thread_id=thread_id, mode=mode, recall_mode=self.settings.recall_mode,
                      branches=[b.trace for b in branches], chosen_branch=idx,
                      concepts_offered=win.concepts_offered, concepts_used=win.concepts_used,
                      subroutines_offered=[h.id for h in hits],
                      subroutines_used=[hits[idx].id] if idx is not None else [],
                      end_reason=win.end_reason)
        trace.path = [f"branch{i}" for i in range(len(branches))] + ["vote"]
        if learn:
            # The winner's own trace is what was learned from; its use records are the vote's.
            source = trace.branches[idx] if idx is not None else trace
            source.subroutines_used, source.concepts_used = list(trace.subroutines_used), list(trace.concepts_used)
            winner = SolveState(problem=problem, trace=source, learn=True, answer=win.answer, verdict=win.verdict)
            learned = (await nodes.learn(winner, Runtime(context=self._context(problem, verifier)))).get("trace", source)
            if idx is None:
                trace = learned
            else:
                trace.branches[idx] = learned
                trace.tool_calls += learned.tool_calls[len(source.tool_calls):]
                trace.notes += learned.notes
        return SolveResult.of(problem.id, trace, win.answer, [a for b in branches for a in b.attempts], win.verdict)

    def close(self) -> None:
        """Close the checkpoint database connection this controller opened (if it opened one)."""
        conn = getattr(self.checkpointer, "conn", None)
        if self._owns_checkpointer and conn is not None:
            conn.close()


def saved_trace(settings: Settings, thread_id: str) -> Trace | None:
    """The trace a controller thread last checkpointed in the settings' database; None if there is no such thread."""
    snap = build_graph(default_checkpointer(settings)).get_state({"configurable": {"thread_id": thread_id}})
    if not snap.values:
        return None
    return Trace.model_validate(snap.values["trace"])

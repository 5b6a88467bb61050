"""Procedures as code: apply stored functions before reasoning, and learn them from rare verified programs.

Applying: a family with inputs (``Domain.procedure_args``) and a gold-free check gets
its offerable procedures run in the jail on the problem's inputs; the first answer the
check accepts is the answer, at no generation cost. A partial procedure therefore helps
where it is right and is never used where it is wrong; one the check refused here is not
shown to the model afterwards, since it has just failed on these very inputs.

Learning, where the stored procedures fail: one greedy and k sampled programs are asked
for (the stored best is also shown its failures and asked for a repair). Every program
that runs and is not a lookup of answers is cross-checked on the family's check
problems; the best is stored if it beats the model's own greedy rate and the stored
best (a repair as a new version). A partly right program is kept too, because repairs
start from it; it is only ever used where the checker accepts its answer. So the rare
correct general program, once seen, is kept, and training tries it first.
"""

from __future__ import annotations

import ast
import asyncio
import re
import time
from dataclasses import dataclass, field

from agent.controller.prompts import (
    PROCEDURE_COMPLEMENT_PROMPT,
    PROCEDURE_DISTILL_PROMPT,
    PROCEDURE_OTHERS,
    PROCEDURE_REPAIR_PROMPT,
    PROCEDURE_WRITE_PROMPT,
    problem_text,
)
from agent.controller.state import ToolCall, Trace
from agent.llm import ChatMessage, GenParams, TextGenerator
from memory.procedures import MAX_EXAMPLES, ProcedureStore, best_of
from memory.schemas import Procedure
from tools.domains import GoldVerifier, get_domain
from tools.domains.base import Domain
from tools.problem import Problem, Verdict, Verifier
from tools.programs import extract_function
from tools.sandbox.run import SandboxLimits, run_python

#: One jail run checks a procedure on every check problem: a brute-force search per call is fine, a hang is not.
CHECK_LIMITS = SandboxLimits(cpu_seconds=30, wall_seconds=60, memory_mb=768, max_output_chars=2000)
APPLY_LIMITS = SandboxLimits(cpu_seconds=5, wall_seconds=10, memory_mb=768, max_output_chars=2000)
#: A string literal that is itself arithmetic over numbers ("(8-4)*(7-1)"): a stored answer, not a procedure.
#: The whole literal must be such arithmetic, so a regex like "[1-4]" or a format like "{}+{}" is not one.
_ANSWER_LITERAL = re.compile(r"^[\d\s().]*\d\s*\)?\s*[-+*/]\s*\(?\s*\d[\d\s()+\-*/.]*$")
#: How much of each written program a trace keeps, so traces show what the model wrote.
PROGRAM_CHARS = 3000
#: Where a problem has no gold-free check, a procedure's answer is used only if it was right on at least this share
#: of the check problems it answered, and it answered at least :data:`MIN_ANSWERED` of them. Judged on its answers,
#: not on all it was checked on: a procedure that returns None where it cannot parse a question (gym-r3's base
#: conversion, 29 right of 29 answered, declined the 11 that name a base in words) is as safe as its answers.
UNCHECKED_RATE = 0.9
MIN_ANSWERED = 10


def vouched(proc: Procedure) -> bool:
    """Whether ``proc``'s answer may be taken where nothing can check it (see :data:`UNCHECKED_RATE`)."""
    return proc.answers_checked >= MIN_ANSWERED and proc.answer_rate >= UNCHECKED_RATE


def function_name(signature: str) -> str:
    return signature.split("(", 1)[0].strip()


def looks_up_answers(code: str, answers: list[str] | None = None) -> bool:
    """Whether the code holds answers as literals (an expression in a string, or a known answer) rather than
    computing them: such a program only repeats the problems it has seen."""
    answers = [a.replace(" ", "") for a in (answers or []) if a]
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                _ANSWER_LITERAL.search(node.value) or _holds(node.value.replace(" ", ""), answers)):
            return True
    return False


def _holds(literal: str, answers: list[str]) -> bool:
    """A literal is a known answer or holds a long one; a bare word or number ("Friday" in a list of weekdays,
    "3") is something any program may spell, and the cross-check on other problems catches one that only
    repeats it."""
    return any((literal == a and not a.isalnum()) or (len(a) >= 12 and a in literal) for a in answers)


@dataclass
class CheckResult:
    """A procedure run on some problems: which passed (with the accepted answers), and how the others failed."""

    passed: list[str] = field(default_factory=list)
    failed: list[tuple[Problem, str, str]] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    declined: set[str] = field(default_factory=set)
    """Failed problems it gave no answer for: None, an exception, or no run."""
    error: str = ""

    @property
    def checked(self) -> int:
        return len(self.passed) + len(self.failed)

    @property
    def answered(self) -> int:
        return self.checked - len(self.declined)


def checker(domain: Domain, problem: Problem, gold: bool) -> Verifier | None:
    """The family's gold-free check; where it has none, the reference answer, but only on problems in ``gold``'s
    care (training-side problems: the check problems, or a training problem learned from), never a dev one."""
    own = domain.verifier(problem)
    return own if own is not None or not gold or problem.gold is None else GoldVerifier(problem)


def run_procedure(code: str, name: str, problems: list[Problem], limits: SandboxLimits = CHECK_LIMITS, *,
                  gold: frozenset[str] = frozenset(), unchecked: bool = False) -> CheckResult:
    """Call ``name`` on each problem's inputs in one jail run and check each output with the family's checker.

    Problems whose id is in ``gold`` are checked against their reference where the family has no
    gold-free check; with ``unchecked`` any other answer without a check is taken as it is (the
    caller vouches for the procedure, see :data:`UNCHECKED_RATE`).
    """
    out = CheckResult()
    if not problems:
        return out
    domains = [get_domain(p.domain) for p in problems]
    lines = code.splitlines()
    result = run_python(code, entry=name, calls=[d.procedure_args(p) or [] for d, p in zip(domains, problems,
                                                                                            strict=True)],
                        limits=limits)
    if not result.ok and not result.calls:
        out.error = f"{result.error}: {result.message}"[:300]
    for i, (domain, problem) in enumerate(zip(domains, problems, strict=True)):
        call = result.calls[i] if i < len(result.calls) else None
        value = call.value if call is not None and call.ok else None
        shown = repr(value) + _where(lines, call.line) if call is not None and call.ok else (
            f"raised {call.error}: {call.message}"[:200] if call is not None else f"did not run ({out.error or 'stopped'})")
        check = checker(domain, problem, problem.id in gold)
        if check is None:
            verdict = Verdict(ok=unchecked and isinstance(value, str) and bool(value.strip()))
        else:
            verdict = check(value) if isinstance(value, str) else Verdict(ok=False)
        if verdict.ok:
            out.passed.append(problem.id)
            out.answers[problem.id] = value
        else:
            feedback = verdict.feedback or "no answer"
            if not (isinstance(value, str) and value.strip()):
                out.declined.add(problem.id)
            if value is None and call is not None and call.ok and domain.always_solvable:
                feedback = "every problem of this kind has an answer"
            out.failed.append((problem, shown, feedback))
    return out


def _where(lines: list[str], line: int | None) -> str:
    """Which ``return`` gave a value, as a failing test's traceback would say: " from line 7 (`return None`)"."""
    if line is None or not 0 < line <= len(lines):
        return ""
    return f" from line {line} (`{lines[line - 1].strip()[:120]}`)"


def recheck(store: ProcedureStore, checks: int) -> list[tuple[Procedure, Procedure]]:
    """Run every active procedure again on its family's check problems, as its admission did (the same
    problems, less the few shown when it was written), and record what it passed and answered; returns each
    procedure before and after. A procedure stored before answers were counted gets its count this way.
    """
    out = []
    for proc in store.list(limit=1_000_000):
        if proc.status != "active" or proc.id is None:
            continue
        domain = get_domain(proc.domain.split("/", 1)[0])
        problems, _ = split_shown(domain, domain.family_problems(proc.domain, check_pool_size(domain, checks)))
        if not problems:
            continue
        res = run_procedure(proc.code, proc.name, problems, gold=frozenset(p.id for p in problems))
        out.append((proc, store.set_check(proc.id, checked=res.checked, passed=len(res.passed),
                                          answered=res.answered)))
    return out


def preload(procedures: list[Procedure]) -> str:
    """Source that defines every shown procedure in the ``<python>`` jail (later ones win a name clash)."""
    return "\n\n".join(p.code for p in procedures)


async def apply_procedures(store: ProcedureStore, problem: Problem, limit: int, trace: Trace, *, record: bool,
                           shown: int = 3, top_k: int = 3) -> tuple[str | None, list[Procedure]]:
    """Run up to ``limit`` offerable procedures on the problem, best first; the first answer its check accepts wins.

    A family of a mixed store (``Domain.stories``) gets the ``top_k`` procedures whose problems
    read most like this one (retrieval, no family label); where the problem has no gold-free
    check, an answer is taken only from a procedure whose cross-check reached
    :data:`UNCHECKED_RATE`. Returns that answer (or None) and the procedures still worth showing the model. Where the
    family has a gold-free check that is none: each one was run on these very inputs and its
    answer refused, so showing it only costs prompt tokens (in the Game of 24 pilot the fallback
    with failed procedures shown solved 0 of 16, and doubled plain's tokens). Without a check
    the best ``shown`` are shown and preloaded unapplied, for the model to call. With ``record`` (a learning
    solve) their offered/used/solved counts are written, which is what demotes a procedure that
    stops paying off; a frozen memory is only read.
    """
    domain = get_domain(problem.domain)
    if domain.procedure_args(problem) is None:
        return None, []
    checked = domain.verifier(problem) is not None
    if domain.stories:
        hits = await asyncio.to_thread(store.retrieve, problem_text(problem), domain.procedure_signature or "", top_k)
        offered = [p for p, _ in hits]
        trace.notes.append("procedures retrieved: " + ", ".join(f"P{p.id} [{p.domain}] {s:.2f}" for p, s in hits))
    else:
        offered = await asyncio.to_thread(store.offerable, domain.procedure_family(problem), limit)
        if not checked:
            offered = offered[:shown]
            trace.procedures_offered.extend(p.id for p in offered)  # type: ignore[misc]
            return None, offered
    for proc in offered:
        t0 = time.perf_counter()
        res = await asyncio.to_thread(run_procedure, proc.code, proc.name, [problem], APPLY_LIMITS,
                                      unchecked=not checked and vouched(proc))
        answer = res.answers.get(problem.id)
        ok = answer is not None
        if record:
            await asyncio.to_thread(store.record, proc.id, offered=1, used=1, solved=int(ok))
        trace.procedures_offered.append(proc.id)  # type: ignore[arg-type]
        trace.procedures_used.append(proc.id)  # type: ignore[arg-type]
        trace.tool_calls.append(ToolCall(node="procedures", kind="apply_procedure", ids=[proc.id], ok=ok,
                                         input=f"{proc.name}{domain.procedure_args(problem)}",
                                         output=answer or (res.failed[0][1] if res.failed else res.error),
                                         seconds=time.perf_counter() - t0))
        if ok:
            return answer, []
    return None, []


def program_answer(code: str) -> str:
    """A stored program in the form a program-answer family reads an answer (a fenced block)."""
    return f"```python\n{code.strip()}\n```"


async def apply_programs(store: ProcedureStore, problem: Problem, trace: Trace, *, record: bool,
                         attempts: int = 2) -> list[str]:
    """Where a family's answer is a program (``Domain.program_answers``, ARC): try every stored program of the
    family as the answer, by the family's gold-free check (an ARC task's training pairs), and return up to
    ``attempts`` that pass, best checked first.

    Every one is tried, not the nearest few: an ARC task's text says nothing retrieval could match on (it is
    grids), while the check is cheap (one jail run, ~0.07 s) and exact, so a program that fits is never missed.
    """
    domain = get_domain(problem.domain)
    check = domain.verifier(problem)
    if check is None:
        return []
    family = domain.procedure_family(problem)
    stored = sorted(await asyncio.to_thread(store.active, family), key=lambda p: (-p.rate, -p.solved, p.id or 0))
    passed: list[str] = []
    for proc in stored:
        t0 = time.perf_counter()
        answer = program_answer(proc.code)
        verdict = await asyncio.to_thread(check, answer)
        if record:
            await asyncio.to_thread(store.record, proc.id, offered=1, used=1, solved=int(verdict.ok))
        trace.procedures_offered.append(proc.id)  # type: ignore[arg-type]
        trace.procedures_used.append(proc.id)  # type: ignore[arg-type]
        trace.tool_calls.append(ToolCall(node="procedures", kind="apply_procedure", ids=[proc.id], ok=verdict.ok,
                                         input=f"{proc.name} on {problem.id}'s training pairs",
                                         output=verdict.feedback.splitlines()[0] if verdict.feedback else "",
                                         seconds=time.perf_counter() - t0))
        if verdict.ok:
            passed.append(answer)
            if len(passed) == attempts:
                break
    if stored:
        trace.notes.append(f"stored programs tried: {len(trace.procedures_used)}, passed the check: {len(passed)}")
    return passed


def keep_program(store: ProcedureStore, problem: Problem, answer: str, trace: Trace) -> Procedure | None:
    """The program of a verified solve, stored as its family's procedure (a program-answer family: ARC).

    Verified means the solve's checker passed it: in training, the task's training pairs and its test output
    (``GoldVerifier``); in a learning arm, the training pairs only (gold-free). The same code found again is one
    procedure (the store merges by code).
    """
    domain = get_domain(problem.domain)
    program = domain.final_answer(answer)
    code = extract_function(program or "", function_name(domain.procedure_signature or "transform"))
    if code is None or domain.procedure_signature is None:
        return None
    pairs = len(problem.meta.get("train") or []) or 1
    kept = store.add(Procedure(name=function_name(domain.procedure_signature), signature=domain.procedure_signature,
                               docstring=domain.procedure_doc, code=code, domain=domain.procedure_family(problem),
                               evidence=[problem.id], checked=pairs, passed=pairs,
                               source=trace.thread_id or problem.id))
    trace.notes.append(f"kept the verified program as P{kept.id}")
    return kept


async def learn_programs(llm: TextGenerator, store: ProcedureStore, problem: Problem, trace: Trace, *, samples: int,
                         max_tokens: int, temperature: float, seed: int, trusted: bool) -> list[str]:
    """Where no stored program fits a program-answer task (ARC), sample ``samples`` programs for it at once and keep
    every one that checks; returns their answers.

    Sampled, not reasoned and retried: on the 12 smallest ARC training tasks the graph's write-verify-retry
    solved none (the 1.5B model rewrites the same wrong rule when shown its failures), while the rare right
    program turns up among independent samples. ``trusted`` (a training task) checks the test output too.
    """
    domain = get_domain(problem.domain)
    check = GoldVerifier(problem) if trusted and problem.gold is not None else domain.verifier(problem)
    if check is None or samples < 1:
        return []
    prompt = llm.render_chat(_messages(problem_text(problem)))
    asks = [GenParams(max_tokens=max_tokens, temperature=temperature, seed=seed + i) for i in range(samples)]
    outs = await asyncio.gather(*(llm.agenerate([prompt], params) for params in asks))
    passed: list[str] = []
    for i, [out] in enumerate(outs):
        trace.charge_completion("learn_procedures", out)
        answer = domain.final_answer(out.text)
        verdict = await asyncio.to_thread(check, answer) if answer else Verdict(ok=False, feedback="no program")
        kept = await asyncio.to_thread(keep_program, store, problem, answer, trace) if answer and verdict.ok else None
        trace.tool_calls.append(ToolCall(node="learn_procedures", kind="procedure_sample", ok=verdict.ok,
                                         input=f"sample{i}\n{out.text[:PROGRAM_CHARS]}",
                                         output=(verdict.feedback or "").splitlines()[0] if verdict.feedback else "",
                                         ids=[kept.id] if kept is not None and kept.id is not None else []))
        if answer and verdict.ok:
            passed.append(answer)
    return passed


# --- learning -------------------------------------------------------------------------------------------

@dataclass
class Candidate:
    """One written program and what checking it found."""

    text: str
    origin: str
    code: str = ""
    here: str | None = None
    lookup: bool = False
    whole: CheckResult | None = None
    """The run on this problem and the check problems."""
    check: CheckResult | None = None
    """The check problems only: what ``rate`` is from."""
    rate: float | None = None

    @property
    def ok_here(self) -> bool:
        return self.here is not None


def _messages(prompt: str) -> list[ChatMessage]:
    return [ChatMessage(role="user", content=prompt)]


def _failures_text(name: str, failed: list[tuple[Problem, str, str]], domain: Domain, known: set[str],
                   limit: int = 3) -> str:
    lines = []
    for problem, shown, feedback in failed[:limit]:
        right = f"; a right answer is {problem.gold}" if problem.id in known and problem.gold else ""
        lines.append(f"- {name}({', '.join(map(repr, domain.procedure_args(problem) or []))}) returned {shown}: "
                     f"{feedback}{right}")
    return "\n".join(lines)


#: Other problems of a story family shown when asking for a program (and then left out of its cross-check).
SHOWN_OTHERS = 3


def check_pool_size(domain: Domain, checks: int) -> int:
    """Problems to draw for ``checks`` cross-checks: a story family's shown ones are drawn too, and not checked."""
    return checks + (SHOWN_OTHERS if domain.stories else 0)


def split_shown(domain: Domain, pool: list[Problem]) -> tuple[list[Problem], list[Problem]]:
    """``pool`` as (checked, shown): the few shown with their answers when a program is asked for (story families
    only) are never among those it is checked on."""
    shown = [p for p in pool if p.gold][:SHOWN_OTHERS] if domain.stories else []
    return [p for p in pool if p not in shown], shown


def _learnable(problem: Problem, check_problems: list[Problem], trusted: bool
               ) -> tuple[Domain, str, str, list[Problem], list[Problem]] | None:
    """The family's domain, signature, function name, check problems (without this one) and the few of them
    shown to the model (story families only; never in the check), if it can learn: a program must be checkable
    here (gold-free, or by a training problem's reference: ``trusted``) or on the family's practice problems.

    A dev problem without a gold-free check still teaches (the cold-start arm): what is written is judged on
    practice problems the family generates with their answers, never on this problem's answer, and answers
    this problem only if that cross-check reached :data:`UNCHECKED_RATE`.
    """
    domain = get_domain(problem.domain)
    signature = domain.procedure_signature
    pool = [p for p in check_problems if p.id != problem.id]
    if signature is None or domain.procedure_args(problem) is None or (
            checker(domain, problem, trusted) is None and not any(p.gold is not None for p in pool)):
        return None
    return domain, signature, function_name(signature), *split_shown(domain, pool)


def others_text(domain: Domain, shown: list[Problem]) -> str:
    """:data:`PROCEDURE_OTHERS` for ``shown`` (training-side problems with their answers), or nothing."""
    if not shown:
        return ""
    return PROCEDURE_OTHERS.format(examples="\n".join(_example_lines(domain, shown)))


def _example_lines(domain: Domain, problems: list[Problem]) -> list[str]:
    name = function_name(domain.procedure_signature or "solve")
    return [f"- {name}({', '.join(map(repr, domain.procedure_args(p) or []))}) -> {p.gold!r}" for p in problems]


async def learn_procedures(llm: TextGenerator, store: ProcedureStore, problem: Problem, check_problems: list[Problem],
                           trace: Trace, *, samples: int, max_tokens: int, temperature: float,
                           seed: int, portfolio: int = 3, reference: str | None = None,
                           trusted: bool = False, distill: bool = False, repairs: int = 1) -> str | None:
    """Ask for programs where memory failed; keep the best checked one. Returns an answer that verified here.

    With ``distill`` and a ``reference`` (a right answer to this problem: a training problem's
    reference solution) the model first rewrites that answer as a function of the inputs:
    writing one answer's form as a search is within a small model's reach where a general
    solver is not, and such partial procedures add up in the portfolio. When one solves this
    problem, nothing else is asked. With ``distill`` and no reference (the cold-start arm on a
    dev problem), one of the family's practice problems and its answer is distilled instead, as
    training would: without it the cold-start arm's letter counters reached 8/24 at best where
    training's distilled one reached 24/24 (gym-r3). What that admits answers here only as
    :func:`usable_answer` allows. Measured on three families from an empty memory, none of 44 such
    rewrites was admitted (docs/results/gym_cold_distill.json), so this is a cost without a shown gain.

    Otherwise one greedy and ``samples`` sampled programs are asked for, plus a repair of the
    stored best where it fails. Once procedures are stored, the sampled ones are asked to
    complement them: shown check problems none of them solves, with their answers, and not
    their code (shown the code, the model mostly wrote it again). While none of them solves
    this problem or beats what is stored, the best of them (the latest among equals, so a
    repair that fixed one thing is the next base) is shown its failures, each with the line
    of the ``return`` that gave it, and repaired, up to ``repairs`` times. The greedy program
    measures the model's own rate on the family (``ProcedureStore.family_rate``), which an admitted procedure's cross-check must beat.
    ``trusted`` says this is a training problem, whose reference may check answers here.
    """
    if (learnable := _learnable(problem, check_problems, trusted)) is None:
        return None
    domain, signature, name, pool, shown = learnable
    family = domain.procedure_family(problem)
    known = {p.id for p in pool}
    gold = frozenset(known | ({problem.id} if trusted else set()))
    source = trace.thread_id or problem.id
    lesson = ((problem, reference) if reference else _practice(pool, seed)) if distill else None
    if lesson is not None:
        taught, answer = lesson
        distilled, admitted = await distill_procedure(
            llm, store, taught, answer, check_problems, trace, max_tokens=max_tokens, temperature=temperature,
            seed=seed, portfolio=portfolio, trusted=trusted or taught is not problem, kept_only=domain.stories)
        if taught is not problem:
            distilled = None if admitted is None else await asyncio.to_thread(usable_answer, admitted, problem,
                                                                              trusted)
        if distilled is not None:
            return distilled
    active = await asyncio.to_thread(store.active, family)
    best = best_of(active)
    write = llm.render_chat(_messages(PROCEDURE_WRITE_PROMPT.format(problem=problem_text(problem), signature=signature,
                                                                    doc=domain.procedure_doc,
                                                                    others=others_text(domain, shown))))
    covered = {i for a in active for i in a.evidence}
    complement = complement_prompt(llm, problem, domain, [p for p in pool if p.id not in covered]) if active else None
    sampled = GenParams(max_tokens=max_tokens, temperature=temperature)
    asks = [(write, GenParams(max_tokens=max_tokens), "greedy")]
    asks += [(complement or write, sampled.model_copy(update={"seed": seed + i}),
              f"{'complement' if complement else 'sample'}{i}") for i in range(samples)]
    if best is not None:
        best_check = await asyncio.to_thread(run_procedure, best.code, name, [problem, *pool], gold=gold)
        if best_check.failed:
            asks.append((repair_prompt(llm, problem, domain, best.code, best_check, known),
                         sampled.model_copy(update={"seed": seed + samples}), f"repair:P{best.id}"))
    cands = await _ask(llm, asks, name, problem, pool, trace, gold)
    rate = await asyncio.to_thread(store.count_family, family, solved=cands[0].ok_here)
    bar = max(rate, best.rate if best is not None else 0.0)
    for round_ in range(repairs):
        runnable = [c for c in cands if c.rate is not None and c.check is not None]
        if any(c.ok_here or (c.rate or 0.0) > bar for c in cands) or not runnable:
            break
        base = max(reversed(runnable), key=lambda c: c.rate or 0.0)
        assert base.whole is not None
        asks = [(repair_prompt(llm, problem, domain, base.code, base.whole, known),
                 sampled.model_copy(update={"seed": seed + samples + 1 + round_}), f"repair:{base.origin}")]
        cands += await _ask(llm, asks, name, problem, pool, trace, gold)
    admitted = await asyncio.to_thread(_admit, store, problem, pool, name, signature, domain.procedure_doc, cands,
                                       rate, source, portfolio)
    _record(trace, cands, admitted)
    here = next((c.here for c in cands if c.here), None)
    if here is None and admitted is not None and checker(domain, problem, trusted) is None:
        here = await asyncio.to_thread(usable_answer, admitted, problem, trusted)
    return here


def _practice(pool: list[Problem], seed: int) -> tuple[Problem, str] | None:
    """A practice problem of the family with its answer, chosen by ``seed`` so that later rounds see others."""
    golds = [p for p in pool if p.gold is not None]
    return (pick := golds[seed % len(golds)], str(pick.gold)) if golds else None


def usable_answer(proc: Procedure, problem: Problem, trusted: bool) -> str | None:
    """``proc``'s answer to ``problem`` if it may be used: one its check accepts, or, where there is no
    check, any answer of a vouched procedure."""
    check = checker(get_domain(problem.domain), problem, trusted)
    if check is None and not vouched(proc):
        return None
    res = run_procedure(proc.code, proc.name, [problem], APPLY_LIMITS, unchecked=check is None)
    return res.answers.get(problem.id)


async def distill_procedure(llm: TextGenerator, store: ProcedureStore, problem: Problem, answer: str,
                            check_problems: list[Problem], trace: Trace, *, max_tokens: int, temperature: float,
                            seed: int, portfolio: int, trusted: bool = False, kept_only: bool = False
                            ) -> tuple[str | None, Procedure | None]:
    """Ask for ``answer``'s form as a function of the inputs (greedy, and one sample) and keep it if it checks;
    returns (an answer for ``problem``, what was admitted).

    ``answer`` is right for ``problem``: a training problem's reference solution, or an answer
    the gold-free check accepted (a rare success of the model's own reasoning). Returns an
    answer a distilled program gave here that the check accepts, if any; with ``kept_only``, only if one
    was also admitted, so that learning goes on to ask for general programs: in story families the
    distilled program that is right here mostly holds this problem's values (gym-r1, gym-r2).
    """
    if (learnable := _learnable(problem, check_problems, trusted)) is None:
        return None, None
    domain, signature, name, pool, shown = learnable
    gold = frozenset({p.id for p in pool} | ({problem.id} if trusted else set()))
    prompt = llm.render_chat(_messages(PROCEDURE_DISTILL_PROMPT.format(
        problem=problem_text(problem), answer=answer, signature=signature, doc=domain.procedure_doc,
        others=others_text(domain, shown))))
    asks = [(prompt, GenParams(max_tokens=max_tokens), "distill"),
            (prompt, GenParams(max_tokens=max_tokens, temperature=temperature, seed=seed), "distill:sample")]
    cands = await _ask(llm, asks, name, problem, pool, trace, gold, [answer])
    rate = await asyncio.to_thread(store.family_rate, domain.procedure_family(problem))
    admitted = await asyncio.to_thread(_admit, store, problem, pool, name, signature, domain.procedure_doc, cands,
                                       rate, trace.thread_id or problem.id, portfolio)
    _record(trace, cands, admitted)
    if kept_only and admitted is None:
        return None, None
    return next((c.here for c in cands if c.here), None), admitted


def _record(trace: Trace, cands: list[Candidate], admitted: Procedure | None) -> None:
    """One tool call per written program: what it was asked as, what checking found, and whether it was kept."""
    for cand in cands:
        summary = "no function" if not cand.code else ("holds answers as literals" if cand.lookup else (
            f"here {'ok' if cand.ok_here else 'wrong'}, check {len(cand.check.passed)}/{cand.check.checked}"
            if cand.check is not None else f"here {'ok' if cand.ok_here else 'wrong'}"))
        trace.tool_calls.append(ToolCall(
            node="learn_procedures", kind="procedure_sample", input=f"{cand.origin}\n{cand.text[:PROGRAM_CHARS]}",
            output=summary, ok=cand.ok_here,
            figures={"check_passed": len(cand.check.passed), "check_n": cand.check.checked}
            if cand.check is not None and not cand.lookup else {},
            ids=[admitted.id] if admitted is not None and admitted.id is not None and admitted.code == cand.code
            else []))


def repair_prompt(llm: TextGenerator, problem: Problem, domain: Domain, code: str, check: CheckResult,
                  known: set[str]) -> str:
    """Ask for a corrected ``code``, shown where it failed.

    A failing input in ``known`` (the training-side check problems) also shows its answer
    from the training data, as a failing unit test shows the expected value; the problem
    being solved is never in ``known``, so a dev problem's answer is never shown.
    """
    name = function_name(domain.procedure_signature or "solve")
    return llm.render_chat(_messages(PROCEDURE_REPAIR_PROMPT.format(
        problem=problem_text(problem), code=code, signature=domain.procedure_signature, doc=domain.procedure_doc,
        failures=_failures_text(name, check.failed, domain, known), passed=len(check.passed),
        checked=check.checked)))


def complement_prompt(llm: TextGenerator, problem: Problem, domain: Domain, unsolved: list[Problem],
                      limit: int = 6) -> str | None:
    """Ask for a fresh program that also finds answers like those of ``unsolved`` training-side problems.

    None when none of them has an answer to show. The problem being solved is never among
    them, so a dev problem's answer is never shown.
    """
    examples = _example_lines(domain, [p for p in unsolved if p.id != problem.id and p.gold][:limit])
    if not examples:
        return None
    return llm.render_chat(_messages(PROCEDURE_COMPLEMENT_PROMPT.format(
        problem=problem_text(problem), signature=domain.procedure_signature, doc=domain.procedure_doc,
        examples="\n".join(examples))))


async def _ask(llm: TextGenerator, asks: list[tuple[str, GenParams, str]], name: str, problem: Problem,
               pool: list[Problem], trace: Trace, gold: frozenset[str] = frozenset(),
               shown: list[str] | None = None) -> list[Candidate]:
    """Generate every asked program at once, then check each in the jail: here, and on the check problems."""
    outs = await asyncio.gather(*(llm.agenerate([prompt], params) for prompt, params, _ in asks))
    cands = []
    for [out], (_, _, origin) in zip(outs, asks, strict=True):
        trace.charge_completion("learn_procedures", out)
        cand = Candidate(text=out.text, origin=origin, code=extract_function(out.text, name) or "")
        if cand.code:
            cand.whole = whole = await asyncio.to_thread(run_procedure, cand.code, name, [problem, *pool], gold=gold)
            cand.here = whole.answers.get(problem.id)
            cand.lookup = looks_up_answers(cand.code, [cand.here or "", *(shown or [])])
            if cand.lookup:
                trace.notes.append(f"learn_procedures: {origin} holds answers as literals; not admitted")
            else:
                cand.check = CheckResult(passed=[i for i in whole.passed if i != problem.id],
                                         failed=[f for f in whole.failed if f[0].id != problem.id],
                                         declined=whole.declined - {problem.id})
                cand.rate = len(cand.check.passed) / cand.check.checked if cand.check.checked else 0.0
        cands.append(cand)
    return cands


#: Where answers have no gold-free check, the check problems a procedure must pass to be admitted (unless it passes
#: all): one or two right of 24 is what a program holding one problem's values gets
#: by chance (gym-r1 admitted "count the letter h" at 1/24 this way). With a check, a partial solver never hurts.
MIN_PASSED = 3

#: Problems (check problems, and the one at hand) a new procedure must solve that no stored one does, to be kept
#: beside them: the one at hand is new by construction (learning runs where the stored ones failed), so one suffices.
NEW_COVERAGE = 1


def _admit(store: ProcedureStore, problem: Problem, pool: list[Problem], name: str, signature: str, doc: str,
           cands: list[Candidate], baseline: float, source: str, portfolio: int) -> Procedure | None:
    """Store what the round found, if anything beats what is stored.

    Only candidates whose cross-check beats ``baseline`` (or is perfect) count. One replaces the stored best (as
    its next version) when its cross-check is higher and it is a repair of that best or solves
    every check problem the best solves; a better-rated program of another form would otherwise
    lose the problems only the old one solves. Else the candidate that solves the most problems
    no stored procedure solves (check problems, and the one at hand) is kept beside them, if that
    is at least :data:`NEW_COVERAGE`, up to ``portfolio`` procedures: partial solvers of different
    forms add up, since each answer is checked before use. The store is read again here, so
    problems learned from at once never replace a better version.
    """
    # A perfect cross-check cannot be beaten, only tied: where the model's own programs are always right (the
    # bar is 1.0), one that was right on every check problem still answers at no generation cost.
    domain = get_domain(problem.domain)
    floor = 0 if domain.verifier(problem) is not None else MIN_PASSED
    scored = [c for c in cands if c.rate is not None and c.check is not None and (c.rate >= 1.0 or (
        c.rate > baseline and len(c.check.passed) >= min(floor, c.check.checked)))]
    if not scored:
        return None

    family = domain.procedure_family(problem)
    texts = {p.id: p.prompt for p in pool}

    def item(c: Candidate) -> Procedure:
        assert c.check is not None
        evidence = [*([problem.id] if c.ok_here else []), *c.check.passed]
        examples = [problem.prompt, *(texts.get(i, "") for i in c.check.passed)]
        return Procedure(name=name, signature=signature, docstring=doc, code=c.code, domain=family,
                         evidence=evidence, examples=[t for t in examples if t][:MAX_EXAMPLES],
                         checked=c.check.checked, passed=len(c.check.passed), answered=c.check.answered,
                         baseline=baseline,
                         source=f"{source} {c.origin}")

    def rank(c: Candidate) -> tuple[float, bool]:
        return c.rate or 0.0, c.origin.startswith("repair")

    active = store.active(family)
    best = best_of(active)
    if best is None or best.id is None:
        return store.add(item(max(scored, key=rank)))
    better = [c for c in scored if (c.rate or 0.0) > best.rate and (
        c.origin == f"repair:P{best.id}" or _covers(c, set(best.evidence)))]
    if better:
        return store.supersede(best.id, item(max(better, key=rank)))
    if len(active) >= portfolio:
        return None
    covered = {i for p in active for i in p.evidence}
    gain, top = max(((len({*c.check.passed, *([problem.id] if c.ok_here else [])} - covered), c)
                     for c in scored if c.check is not None), key=lambda g: (g[0], rank(g[1])))
    return store.add(item(top)) if gain >= NEW_COVERAGE else None


def _covers(cand: Candidate, evidence: set[str]) -> bool:
    """Whether ``cand`` solves every check problem in ``evidence`` (a stored procedure's)."""
    assert cand.check is not None
    checked = {*cand.check.passed, *(f[0].id for f in cand.check.failed)}
    return evidence & checked <= set(cand.check.passed)

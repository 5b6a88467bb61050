"""After a solve: record outcomes, and from verified solutions write concepts and subroutines.

Following ArcMemo, only strictly verified solutions create memory; the writer
is shown the nearest existing concept names so it reuses them (the stores
merge same-name concepts and near-duplicate subroutines). The model's output
is constrained to a line format by a regex, so even a small model's writing
parses; whatever still fails to parse is recorded, not raised. A written concept
is stored only once an A/B trial on held problems of its family shows that
showing it helps (:mod:`agent.controller.trials`).
"""

from __future__ import annotations

import asyncio
import re
import time

from agent.controller.parsing import strip_tags
from agent.controller.prompts import (
    CONCEPT_REGEX,
    CONCEPT_WRITE_PROMPT,
    DECOMPOSE_PROMPT,
    DECOMPOSE_REGEX,
    problem_text,
)
from agent.controller.state import ToolCall, Trace
from agent.controller.toolbox.subq import SUBQ
from agent.controller.trials import ConceptTrials
from agent.llm import ChatMessage, GenParams, TextGenerator
from memory.protocol import Memory
from memory.schemas import Concept, Subroutine
from tools.problem import Problem, Verdict

_FIELD = re.compile(r"^(concept|kind|description|cues|notes):\s*(.*)$")
_PAIR = re.compile(r"^Q:\s*(.+)\nP:\s*(.+)$", re.MULTILINE)
TRACE_CHARS = 3000
#: Where the reasoning after a sub-question runs on into a new, numbered question of its own
#: ("... x = 3. 2. What is the value of y ...?"): the procedure ends there.
_NEXT_QUESTION = re.compile(r"\s(?:\d{1,2}[.)]|Q:|Question:)\s+(?:What|How|Which|Who|When|Find|Calculate|Determine|"
                            r"Solve)\b[^?\n]{0,200}\?")


def transcript(trace: Trace) -> str:
    """The last attempt's reasoning with protocol tags removed, for the writer prompts."""
    if not trace.segments:
        return ""
    last = trace.segments[-1].attempt
    text = " ".join(strip_tags(s.text) for s in trace.segments if s.attempt == last)
    return text[-TRACE_CHARS:]


def parse_concepts(text: str, problem: Problem) -> list[Concept]:
    out: list[Concept] = []
    cur: dict[str, str] = {}

    def flush() -> None:
        if cur.get("concept", "").strip():
            out.append(Concept(
                name=cur["concept"].strip(),
                kind="structure" if cur.get("kind", "").strip() == "structure" else "routine",
                description=cur.get("description", "").strip(),
                cues=[c.strip(" .") for c in cur.get("cues", "").split(";") if c.strip(" .")],
                notes=[n.strip(" .") for n in cur.get("notes", "").split(";") if n.strip(" .")],
                domain=problem.domain,
                problems=[problem.id],
            ))

    for line in text.splitlines():
        m = _FIELD.match(line.strip())
        if not m:
            continue
        if m.group(1) == "concept":
            flush()
            cur = {}
        cur[m.group(1)] = m.group(2)
    flush()
    return out


_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_NAME = re.compile(r"\b[A-Z][a-z]{2,}\b")
#: Capitalised words that start sentences rather than name anything.
_NOT_NAMES = frozenset(["The", "How", "What", "Why", "When", "Where", "Which", "Who", "Whose", "If", "In", "On", "At", "Each", "Every", "She", "He", "They", "It", "Its", "His", "Her", "Their", "There", "This", "That", "These", "Those", "Then", "After", "Before", "Find", "Calculate", "Give", "Answer", "For", "And", "But", "Also", "Per", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten", "Some", "All", "Many", "Most", "Half", "Twice", "Use", "Let", "Now", "Next", "First", "Second", "Third", "Last", "Total"])


def specifics(text: str) -> set[str]:
    """The numbers and names of a problem: what an abstract concept must not restate."""
    return set(_NUMBER.findall(text)) | (set(_NAME.findall(text)) - _NOT_NAMES)


def restates_source(concept: Concept, source: str, limit: int = 2) -> list[str]:
    """The source problem's numbers and names a concept repeats, if there are ``limit`` or more (else [])."""
    text = " ".join([concept.name, concept.description, *concept.cues, *concept.notes])
    found = sorted(specifics(source) & (set(_NUMBER.findall(text)) | set(_NAME.findall(text))))
    return found if len(found) >= limit else []


_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
#: The vocabulary of arithmetic, money, time and measure, plus function words: what a method's
#: name may share with its problem. Any other word the two share is the story's ("Flower Counting").
GENERIC_WORDS = frozenset([
    "add", "addition", "adding", "sum", "total", "subtract", "subtraction", "difference", "multiply",
    "multiplication", "product", "times", "divide", "division", "quotient", "remainder", "share", "split",
    "equal", "equally", "each", "per", "every", "rate", "unit", "units", "ratio", "proportion", "proportional",
    "percent", "percentage", "fraction", "half", "double", "twice", "triple", "quarter", "third", "average",
    "mean", "number", "amount", "quantity", "count", "value", "calculate", "calculation", "compute", "find",
    "solve", "step", "method", "model", "problem", "question", "answer", "whole", "part", "group", "combine",
    "remaining", "left", "change", "increase", "decrease", "more", "less", "fewer", "greater", "smaller",
    "larger", "compare", "relation", "equation", "variable", "unknown", "backward", "working", "inverse",
    "reverse", "sequence", "pattern", "repeat", "cumulative", "running", "consecutive", "distribution", "scale",
    "convert", "measure", "item", "object", "thing", "people", "person", "cost", "price", "money", "spend",
    "spent", "pay", "paid", "earn", "earning", "income", "wage", "salary", "profit", "loss", "discount", "tax",
    "tip", "interest", "sale", "sell", "sold", "buy", "bought", "purchase", "budget", "saving", "dollar",
    "cent", "time", "hour", "minute", "second", "day", "week", "month", "year", "age", "duration", "schedule",
    "speed", "distance", "length", "width", "height", "area", "perimeter", "volume", "weight", "capacity",
    "the", "and", "for", "with", "from", "into", "than", "that", "then", "them", "when", "what", "have", "many",
    "much", "some", "after", "before", "other", "their", "this", "these", "those", "how", "all", "of",
    "are", "was", "were", "will", "would", "can", "could", "does", "did", "done", "has", "had", "his", "her", "him",
    "she", "they", "you", "your", "its", "our", "not", "but", "also", "just", "only", "both", "any", "get", "got",
])


def _stem(word: str) -> str:
    w = word.lower().rstrip("s") or word.lower()
    return w[:5]


_GENERIC_STEMS = frozenset(_stem(w) for w in GENERIC_WORDS)


def story_words(text: str, source: str) -> list[str]:
    """Words of ``text`` that come from its problem's story rather than from arithmetic.

    A concept's name is what retrieval and the relevance question see first; one naming the
    story's things ("Gnome Counting") is only ever chosen for that story, so it never transfers.
    """
    told = {_stem(w) for w in _WORD.findall(source) if len(w) >= 3}
    seen: dict[str, str] = {}
    for w in _WORD.findall(text):
        if len(w) >= 3 and _stem(w) in told and _stem(w) not in _GENERIC_STEMS:
            seen.setdefault(_stem(w), w)
    return list(seen.values())


def restates_story(sub: Subroutine, source: str, limit: int = 2) -> list[str]:
    """What a stored sub-question and procedure repeat of their problem (numbers, names, the story's
    words), if ``limit`` or more: such a pair is a fact about one problem ("How many yellow flowers
    are in Mark's garden? 10"), which on GSM8K only ever pulled the model towards the wrong story."""
    text = f"{sub.question}\n{sub.procedure}"
    found = sorted(specifics(source) & (set(_NUMBER.findall(text)) | set(_NAME.findall(text))))
    found += [w for w in story_words(text, source) if w not in found]
    return found if len(found) >= limit else []


def parse_pairs(text: str, problem: Problem, source: str) -> list[Subroutine]:
    return [
        Subroutine(question=q.strip(), procedure=p.strip(), domain=problem.domain, source=source)
        for q, p in _PAIR.findall(text)
        if q.strip() and p.strip()
    ]


def trace_pairs(trace: Trace, problem: Problem, source: str) -> list[Subroutine]:
    """Sub-questions the model asked itself, each with the reasoning that followed it."""
    out = []
    segs = trace.segments
    for i, seg in enumerate(segs):
        if seg.tag != SUBQ.name or not seg.body:
            continue
        follow = []
        for nxt in segs[i + 1 :]:
            follow.append(strip_tags(nxt.text))
            if nxt.tag is not None:
                break
        procedure = _NEXT_QUESTION.split(" ".join(f for f in follow if f), maxsplit=1)[0].strip()
        if procedure:
            out.append(Subroutine(question=seg.body, procedure=procedure[:1000], domain=problem.domain, source=source))
    return out


def _existing_names(memory: Memory, problem: Problem, k: int = 24) -> list[str]:
    try:
        hits = memory.concepts.search(f"{problem_text(problem)}\n{problem.context[:500]}", k)
        names = [h.item.name for h in hits]
    except Exception:  # noqa: BLE001 - an empty or unreadable index only loses the naming hint
        names = []
    return names or list(memory.concepts.names())[:k]


async def _generate(llm: TextGenerator, prompt: str, regex: str, max_tokens: int) -> tuple[str, int, int, float]:
    t0 = time.perf_counter()
    rendered = llm.render_chat([ChatMessage(role="user", content=prompt)])
    [c] = await llm.agenerate([rendered], GenParams(max_tokens=max_tokens, regex=regex))
    return c.text, c.prompt_tokens, c.generated_tokens, time.perf_counter() - t0


def _record_outcomes(memory: Memory, problem: Problem, trace: Trace, success: bool) -> list[ToolCall]:
    """Count the problem towards the arm's solve rate, and each concept's offers and uses against that rate.

    One transaction, so a failure (an entry removed meanwhile) leaves no partial counts.
    """
    calls: list[ToolCall] = []
    with memory.transaction() as s:
        baseline = memory.concepts.count_solve(problem.domain, success, session=s)
        memory.concepts.record_offers(trace.concepts_offered, session=s)
        if trace.concepts_used:
            memory.concepts.record_outcome(trace.concepts_used, success, problem.id, baseline=baseline, session=s)
            calls.append(ToolCall(node="learn", kind="concept_outcome", ids=trace.concepts_used, ok=success))
        if trace.subroutines_used:
            memory.subroutines.record_use(trace.subroutines_used, success, session=s)
            calls.append(ToolCall(node="learn", kind="subroutine_outcome", ids=trace.subroutines_used, ok=success))
    return calls


async def _admitted(llm: TextGenerator, trials: ConceptTrials | None, problem: Problem, concepts: list[Concept],
                    subs: list[Subroutine], trace: Trace) -> tuple[list[Concept], list[Subroutine], list[ToolCall]]:
    """The concepts and sub-question procedures whose trial showed they help, and one ``concept_trial`` or
    ``subroutine_trial`` call per trial. Where the family has no held problems nothing can show a concept helps, so
    none is stored; sub-questions are then stored untried, as before trials (GSM8K's, with them, frozen = plain)."""
    if not concepts and not subs:
        return [], [], []
    t0 = time.perf_counter()
    results = await trials.run(llm, problem, [*concepts, *subs], trace) if trials is not None else []
    if not results:
        if concepts:
            trace.notes.append(f"learn: no held problems of this family to try concept(s) "
                               f"{', '.join(repr(c.name) for c in concepts)} on; not stored")
        return [], subs, []
    seconds = (time.perf_counter() - t0) / len(results)
    calls = [ToolCall(node="learn", kind="concept_trial" if i < len(concepts) else "subroutine_trial",
                      input=r.concept, output=r.summary(), ok=r.admitted, seconds=seconds, figures=r.figures())
             for i, r in enumerate(results)]
    kept = [c.model_copy(update=r.figures()) for c, r in zip(concepts, results[:len(concepts)], strict=True)
            if r.admitted]
    kept_subs = [s for s, r in zip(subs, results[len(concepts):], strict=True) if r.admitted]
    return kept, kept_subs, calls


async def alearn(llm: TextGenerator, memory: Memory, problem: Problem, answer: str | None,
                 verdict: Verdict | None, trace: Trace, trials: ConceptTrials | None = None) -> list[ToolCall]:
    """Record outcomes of what was used; on a verified solution, write the concepts and sub-question procedures
    whose A/B trial shows they help (sub-questions untried where no held problems exist).

    Called only from the graph's ``learn`` node (diversity mode runs that node on
    the vote's winner). Both writer prompts go to the engine at once, as do all of a
    concept trial's solves, and every store read and write runs in a worker thread,
    so learning never holds up other problems sharing the event loop. Without
    ``trials`` (or held problems) nothing can show a concept helps, so none is stored
    (see :func:`_admitted` for sub-questions).
    """
    calls: list[ToolCall] = []
    success = verdict is not None and verdict.ok
    if verdict is not None:
        calls += await asyncio.to_thread(_record_outcomes, memory, problem, trace, success)
    if not success:
        trace.notes.append("learn: not verified, no new memory written")
        return calls
    body = transcript(trace)
    source = trace.thread_id or problem.id
    names = await asyncio.to_thread(_existing_names, memory, problem)
    concept_prompt = CONCEPT_WRITE_PROMPT.format(names=", ".join(names) or "(none yet)",
                                                 problem=problem_text(problem), trace=body, answer=answer)
    pairs_prompt = DECOMPOSE_PROMPT.format(problem=problem_text(problem), trace=body, answer=answer)
    (c_text, c_pt, c_gt, c_s), (p_text, p_pt, p_gt, p_s) = await asyncio.gather(
        _generate(llm, concept_prompt, CONCEPT_REGEX, 200), _generate(llm, pairs_prompt, DECOMPOSE_REGEX, 300))
    trace.charge("learn", c_pt + p_pt, c_gt + p_gt)

    concepts = []
    told = f"{problem.prompt}\n{problem.context}"
    for concept in parse_concepts(c_text, problem):
        if repeated := restates_source(concept, told):
            trace.notes.append(f"learn: concept {concept.name!r} restates the problem's {', '.join(repeated)}; rejected")
        elif story := story_words(concept.name, told):
            trace.notes.append(f"learn: concept {concept.name!r} is named for the story ({', '.join(story)}); rejected")
        else:
            concepts.append(concept)
    subs = []
    for sub in trace_pairs(trace, problem, source) + parse_pairs(p_text, problem, source):
        if repeated := restates_story(sub, told):
            trace.notes.append(f"learn: procedure for {sub.question[:80]!r} restates the problem's "
                               f"{', '.join(repeated[:5])}; rejected")
        else:
            subs.append(sub)
    concepts, subs, trial_calls = await _admitted(llm, trials, problem, concepts, subs, trace)
    calls += trial_calls
    t0 = time.perf_counter()
    if concepts:
        await asyncio.to_thread(memory.concepts.add_many, concepts)
    calls.append(ToolCall(node="learn", kind="write_concepts", input=concept_prompt[-300:], output=c_text,
                          ok=bool(concepts), seconds=c_s + time.perf_counter() - t0))
    t0 = time.perf_counter()
    if subs:
        await asyncio.to_thread(memory.subroutines.add_many, subs)
    calls.append(ToolCall(node="learn", kind="write_subroutines", output=p_text, ok=bool(subs),
                          seconds=p_s + time.perf_counter() - t0))
    return calls

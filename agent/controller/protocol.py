"""The tag protocol, the prompts and the budgets: everything the model is told, in one place.

Keeping the wording and the limits together means a change to the protocol is
one edit, and the parser that reads model output sits next to the text that
taught the model to write it.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from agent.config import Settings

Tag = Literal["recall", "subq", "python", "answer"]
TAGS: tuple[Tag, ...] = ("recall", "subq", "python", "answer")
#: Tags only the controller may write; a model that writes them has them neutralised.
CONTROLLER_TAGS = ("evidence", "options", "folded", "output")
#: Bodies where layout matters (programs), kept as written instead of collapsed to one line.
LAYOUT_TAGS = ("python", "answer")
STOP_STRINGS = [f"</{t}>" for t in TAGS]
EVIDENCE_OPEN, EVIDENCE_CLOSE = "<evidence>", "</evidence>"
_ANY_TAG = re.compile(r"</?(recall|subq|python|answer|evidence|options|folded|output)>")
_OPENER = re.compile(r"<(recall|subq|python|answer)>")
_CONTROLLER_TAG = re.compile(r"<(/?)(evidence|options|folded|output)>")

SYSTEM_PROMPT = """You solve problems by reasoning step by step in plain text.
You may use these tags while you think:
<recall>what you need from the document</recall> returns the exact passages of the document inside <evidence>...</evidence>.
<subq>a smaller sub-question</subq> returns stored procedures for it inside <options>...</options>; follow one if it fits.
<python>print(12 * 7)</python> runs Python for arithmetic and shows what it prints inside <output>...</output>.
<answer>the final answer only</answer> ends your work.
Use each tag at most a few times, never put one tag inside another, and always finish with <answer>...</answer>."""

CONCEPT_CHOICE_PROMPT = """Problem:
{problem}

Concept: {name}
{description}
Useful when: {cues}

Is this concept relevant to solving the problem? Answer yes or no."""

RETRY_PROMPT = """Your previous attempt was not accepted.
Previous answer: {answer}
Verifier feedback: {feedback}
Look at what went wrong, revise your reasoning and give a new answer."""

FORCE_ANSWER = "\nFinal answer: <answer>"

FOLD_PROMPT = """Summarise the reasoning below in a few short sentences. Keep every fact, number and intermediate result; drop repetition.

{text}

Summary:"""

CONCEPT_WRITE_PROMPT = """A problem was solved and the solution was verified. Write the reusable concept behind it so it helps on other problems.
Reuse one of these existing concept names if it is the same idea: {names}

Problem:
{problem}

Reasoning:
{trace}

Answer: {answer}

Write the concept in exactly this format:
concept: <short name>
kind: routine or structure
description: <one sentence>
cues: <when it applies; separate several with ;>
notes: <how to apply it; separate several with ;>
"""

#: Constrained format for concept writing, so even a small model's output parses.
CONCEPT_REGEX = (
    r"concept: [A-Za-z][A-Za-z0-9 _-]{2,40}\n"
    r"kind: (routine|structure)\n"
    r"description: [^\n<>]+\n"
    r"cues: [^\n<>]+\n"
    r"notes: [^\n<>]+\n"
)
#: Unbounded ``+`` rather than ``{m,n}``: large counted repeats make xgrammar's compile time out.

DECOMPOSE_PROMPT = """Split the solved problem below into self-contained sub-questions, each with the procedure that answers it, so the procedures can be reused on other problems.

Problem:
{problem}

Reasoning:
{trace}

Answer: {answer}

Write one to three pairs in exactly this format:
Q: <sub-question>
P: <procedure>
"""

DECOMPOSE_REGEX = r"Q: [^\n<>]+\nP: [^\n<>]+\n(Q: [^\n<>]+\nP: [^\n<>]+\n)?"


def user_prompt(question: str, context: str, concepts: str, retry: str = "") -> str:
    parts = []
    if concepts:
        parts.append(f"Concepts that may help:\n{concepts}")
    if context:
        parts.append(f"Document:\n{context}")
    parts.append(f"Question:\n{question}")
    if retry:
        parts.append(retry)
    return "\n\n".join(parts)


def evidence_block(text: str) -> str:
    return f"\n{EVIDENCE_OPEN}{text}{EVIDENCE_CLOSE}\n"


def options_block(options: list[tuple[int, str, str]]) -> str:
    if not options:
        return "\n<options>(no stored procedure matches)</options>\n"
    body = "\n".join(f"[S{i}] {q}\nProcedure: {p}" for i, q, p in options)
    return f"\n<options>\n{body}\n</options>\n"


def output_block(text: str) -> str:
    return f"\n<output>\n{text.strip()}\n</output>\n"


def folded_block(summary: str) -> str:
    return f"<folded>{summary.strip()}</folded>\n"


class Budgets(BaseModel):
    """Per-attempt limits; exceeding one ends the attempt with ``budget:<name>``."""

    tokens: int = Field(gt=0, description="Generated tokens per attempt (trace_budget_tokens).")
    segments: int = Field(gt=0)
    recalls: int = Field(ge=0)
    retrievals: int = Field(ge=0)
    tool_calls: int = Field(ge=0)
    retries: int = Field(ge=0)
    segment_tokens: int = Field(gt=0)
    concept_shortlist: int = Field(gt=0)
    subroutine_top_k: int = Field(gt=0)
    kv_budget: int | None = None
    fold: bool = False
    repeat_recalls: int = Field(2, description="Identical recalls tolerated before the trace is ended as a loop.")
    evidence_spans: int = Field(3, description="Spans inserted per recall.")
    force_answer_tokens: int = 64
    fold_keep_parts: int = Field(2, description="Most recent transcript parts never folded.")
    copy_span_tokens: int = Field(128, description="Hard cap on a model-copied evidence span (RecaLLM's 128).")

    @classmethod
    def from_settings(cls, s: Settings) -> Budgets:
        return cls(
            tokens=s.trace_budget_tokens,
            segments=s.max_segments,
            recalls=s.max_recalls,
            retrievals=s.max_retrievals,
            tool_calls=s.max_tool_calls,
            retries=s.max_retries,
            segment_tokens=s.segment_tokens,
            concept_shortlist=s.concept_shortlist,
            subroutine_top_k=s.subroutine_top_k,
            kv_budget=None if s.kv_policy == "triattention" else s.kv_budget,
            fold=s.kv_policy == "fold" and s.kv_budget is not None,
        )


class ParsedSegment(BaseModel):
    """What one generated segment asks the controller to do."""

    tag: Tag | None = None
    body: str = ""
    violations: list[str] = Field(default_factory=list)
    open_tail: str = Field("", description="Text from an opener left unclosed, carried into the next segment.")


def neutralise(text: str) -> tuple[str, bool]:
    """Disarm controller-only tags in model text, so the model cannot forge evidence."""
    cleaned = _CONTROLLER_TAG.sub(lambda m: f"[{m.group(1)}{m.group(2)}]", text)
    return cleaned, cleaned != text


def strip_tags(text: str) -> str:
    """Tags removed and whitespace collapsed: for one-line bodies (queries, sub-questions, summaries)."""
    return " ".join(_ANY_TAG.sub(" ", text).split())


def answer_text(text: str) -> str:
    """Tags removed, layout kept: an answer may be a program whose newlines and indentation matter."""
    return _ANY_TAG.sub("", text).strip()


def parse_segment(text: str, stop_reason: str | None, carry: str = "") -> ParsedSegment:
    """Read the closing tag that ended a segment and the body it closes.

    ``carry`` is the unclosed tail of the previous segment, so an opener written
    just before a segment ran out of tokens still pairs with its closer.
    """
    full = carry + text
    closed: Tag | None = None
    for tag in TAGS:
        closer = f"</{tag}>"
        if stop_reason == closer or full.rstrip().endswith(closer):
            closed = tag
            break
    if closed is None:
        at = _unclosed_opener(full, full)
        if at is not None:
            tag = _OPENER.match(full, at).group(1)  # type: ignore[union-attr]
            return ParsedSegment(violations=[f"unclosed:{tag}"], open_tail=full[at:])
        return ParsedSegment()
    closer = f"</{closed}>"
    head = full[: full.rstrip().rfind(closer)]
    start = head.rfind(f"<{closed}>")
    violations: list[str] = []
    if start < 0:
        violations.append(f"unopened:{closed}")
        body = head.splitlines()[-1] if head.strip() else ""
    else:
        body = head[start + len(closed) + 2 :]
    if _ANY_TAG.search(body):
        violations.append(f"nested:{closed}")
    outer = _unclosed_opener(full[: max(start, 0)], full)
    tail = ""
    if outer is not None:
        violations.append(f"nested:{closed}")
        tail = full[outer:]
    clean = answer_text(body) if closed in LAYOUT_TAGS else strip_tags(body)
    return ParsedSegment(tag=closed, body=clean, violations=list(dict.fromkeys(violations)), open_tail=tail)


def _unclosed_opener(head: str, full: str) -> int | None:
    """Offset of the last opener in ``head`` whose closer never follows in ``full``."""
    for m in reversed(list(_OPENER.finditer(head))):
        if f"</{m.group(1)}>" not in full[m.end():]:
            return m.start()
    return None


def normalise_query(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))

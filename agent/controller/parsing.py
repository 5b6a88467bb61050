"""Reading model output against the tag table: which request a segment closed, its body, what was malformed."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent.controller.tags import CONTROLLER_TAG
from agent.controller.toolbox import tag_table


class ParsedSegment(BaseModel):
    """What one generated segment asks the controller to do."""

    tag: str | None = Field(None, description="Name of the model tag the segment closed, if any.")
    body: str = ""
    violations: list[str] = Field(default_factory=list)
    open_tail: str = Field("", description="Text from an opener left unclosed, carried into the next segment.")


def neutralise(text: str) -> tuple[str, bool]:
    """Disarm controller-only tags in model text, so the model cannot forge evidence."""
    cleaned = CONTROLLER_TAG.sub(lambda m: f"[{m.group(1)}{m.group(2)}]", text)
    return cleaned, cleaned != text


def strip_tags(text: str) -> str:
    """Tags removed and whitespace collapsed: for one-line bodies (queries, sub-questions, summaries)."""
    return " ".join(tag_table().any_tag.sub(" ", text).split())


def answer_text(text: str) -> str:
    """Tags removed, layout kept: an answer may be a program whose newlines and indentation matter."""
    return tag_table().any_tag.sub("", text).strip()


def parse_segment(text: str, stop_reason: str | None, carry: str = "") -> ParsedSegment:
    """Read the closing tag that ended a segment and the body it closes.

    ``carry`` is the unclosed tail of the previous segment, so an opener written
    just before a segment ran out of tokens still pairs with its closer.
    """
    table = tag_table()
    full = carry + text
    closed = next((t for t in table.model_tags if stop_reason == t.close or full.rstrip().endswith(t.close)), None)
    if closed is None:
        at = _unclosed_opener(full, full)
        if at is not None:
            tag = table.opener.match(full, at).group(1)  # type: ignore[union-attr]
            return ParsedSegment(violations=[f"unclosed:{tag}"], open_tail=full[at:])
        return ParsedSegment()
    head = full[: full.rstrip().rfind(closed.close)]
    start = head.rfind(closed.open)
    violations: list[str] = []
    if start < 0:
        violations.append(f"unopened:{closed.name}")
        body = head.splitlines()[-1] if head.strip() else ""
    else:
        body = head[start + len(closed.open) :]
    if table.any_tag.search(body):
        violations.append(f"nested:{closed.name}")
    outer = _unclosed_opener(full[: max(start, 0)], full)
    tail = ""
    if outer is not None:
        violations.append(f"nested:{closed.name}")
        tail = full[outer:]
    clean = answer_text(body) if closed.keeps_layout else strip_tags(body)
    return ParsedSegment(tag=closed.name, body=clean, violations=list(dict.fromkeys(violations)), open_tail=tail)


def _unclosed_opener(head: str, full: str) -> int | None:
    """Offset of the last opener in ``head`` whose closer never follows in ``full``."""
    table = tag_table()
    for m in reversed(list(table.opener.finditer(head))):
        if table.tags[m.group(1)].close not in full[m.end():]:
            return m.start()
    return None

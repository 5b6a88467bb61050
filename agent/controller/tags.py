"""The tag protocol as one table: every tag the model may write and every block the controller inserts.

The parser, the stop strings, the tag regexes, routing after ``think``, the
graph's node list and its recursion limit are all derived from :func:`tag_table`,
which reads the registered tools (:mod:`agent.controller.toolbox`); a tool's tag
spec lives in the tool's own file.
"""

from __future__ import annotations

import re
from functools import cache

from pydantic import BaseModel, ConfigDict

from tools.problem import ANSWER_TAG


class _Named(BaseModel):
    """A tag name and its spelled-out opener and closer, shared by model tags and controller blocks."""

    model_config = ConfigDict(frozen=True)

    name: str

    @property
    def open(self) -> str:
        return f"<{self.name}>"

    @property
    def close(self) -> str:
        return f"</{self.name}>"


class BlockSpec(_Named):
    """A controller-only tag: the model never writes it; what the controller inserts is wrapped in it."""

    lead: str = "\n"
    inner: str = ""
    strip: bool = False

    def render(self, body: str, inner: str | None = None) -> str:
        """``lead<name>inner body inner</name>\\n``; ``inner`` overrides the spec's padding for one block."""
        pad = self.inner if inner is None else inner
        text = body.strip() if self.strip else body
        return f"{self.lead}{self.open}{pad}{text}{pad}{self.close}\n"


class TagSpec(_Named):
    """A tag the model writes to ask the controller for something (or, for ``answer``, to finish)."""

    node: str | None = None
    """The graph node that handles the request; None ends the attempt instead."""
    budget: str | None = None
    """The ``Budgets`` field that caps its calls per attempt, and the ``AttemptCounters`` field counting them."""
    keeps_layout: bool = False
    """Its body keeps newlines and indentation (programs) instead of being collapsed to one line."""
    block: BlockSpec | None = None
    """The controller block its node answers with."""


EVIDENCE = BlockSpec(name="evidence")
OPTIONS = BlockSpec(name="options", inner="\n")
OUTPUT = BlockSpec(name="output", inner="\n", strip=True)
FOLDED = BlockSpec(name="folded", lead="", strip=True)
#: Tags only the controller may write; a model that writes them has them neutralised.
CONTROLLER_BLOCKS: tuple[BlockSpec, ...] = (EVIDENCE, OPTIONS, FOLDED, OUTPUT)


def _names(names: list[str]) -> str:
    return "|".join(re.escape(n) for n in names)



ANSWER = TagSpec(name=ANSWER_TAG, keeps_layout=True)
CONTROLLER_TAG = re.compile(rf"<(/?)({_names([b.name for b in CONTROLLER_BLOCKS])})>")


class TagTable:
    """Every model tag (the registered tools' and ``answer``) and what is derived from them."""

    def __init__(self, model_tags: tuple[TagSpec, ...]) -> None:
        #: The tags the model may write, in the order a segment's closer is looked for.
        self.model_tags = model_tags
        self.tags: dict[str, TagSpec] = {t.name: t for t in model_tags}
        self.stop_strings: list[str] = [t.close for t in model_tags]
        #: Request tag -> the node that serves it.
        self.routes: dict[str, str] = {t.name: t.node for t in model_tags if t.node}
        self.tool_nodes: tuple[str, ...] = tuple(dict.fromkeys(self.routes.values()))
        #: Distinct per-attempt budgets that tag requests spend (two tags may share one).
        self.tag_budgets: tuple[str, ...] = tuple(dict.fromkeys(t.budget for t in model_tags if t.budget))
        self.any_tag = re.compile(rf"</?({_names([*self.tags, *(b.name for b in CONTROLLER_BLOCKS)])})>")
        self.opener = re.compile(rf"<({_names(list(self.tags))})>")


@cache
def tag_table() -> TagTable:
    """Built on first use from the tool registry: the tools' own files import the specs above."""
    from agent.controller.toolbox import TOOLS

    return TagTable((*(t.spec for t in TOOLS), ANSWER))

"""The tag protocol as one table: every tag the model may write and every block the controller inserts.

The parser, the stop strings, the tag regexes, routing after ``think``, the
graph's node list and its recursion limit are all derived from these specs, so
adding or changing a tag is an edit here, its wording in
:mod:`agent.controller.prompts` and one node function.
"""

from __future__ import annotations

import re

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

RECALL = TagSpec(name="recall", node="recall", budget="recalls", block=EVIDENCE)
SUBQ = TagSpec(name="subq", node="retrieve", budget="retrievals", block=OPTIONS)
PYTHON = TagSpec(name="python", node="run_python", budget="tool_calls", keeps_layout=True, block=OUTPUT)
ANSWER = TagSpec(name=ANSWER_TAG, keeps_layout=True)
#: The tags the model may write, in the order a segment's closer is looked for.
MODEL_TAGS: tuple[TagSpec, ...] = (RECALL, SUBQ, PYTHON, ANSWER)

TAGS: dict[str, TagSpec] = {t.name: t for t in MODEL_TAGS}
STOP_STRINGS: list[str] = [t.close for t in MODEL_TAGS]
#: Request tag -> the node that serves it.
ROUTES: dict[str, str] = {t.name: t.node for t in MODEL_TAGS if t.node}
TOOL_NODES: tuple[str, ...] = tuple(dict.fromkeys(ROUTES.values()))
#: Distinct per-attempt budgets that tag requests spend (two tags may share one).
TAG_BUDGETS: tuple[str, ...] = tuple(dict.fromkeys(t.budget for t in MODEL_TAGS if t.budget))


def _names(names: list[str]) -> str:
    return "|".join(re.escape(n) for n in names)


ANY_TAG = re.compile(rf"</?({_names([*TAGS, *(b.name for b in CONTROLLER_BLOCKS)])})>")
OPENER = re.compile(rf"<({_names(list(TAGS))})>")
CONTROLLER_TAG = re.compile(rf"<(/?)({_names([b.name for b in CONTROLLER_BLOCKS])})>")


def spec_for_node(node: str) -> TagSpec:
    """The (first) tag a tool node serves: where that node finds its budget."""
    return next(t for t in MODEL_TAGS if t.node == node)

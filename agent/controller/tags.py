"""The tag protocol as one table: every tag the model may write and every block the controller inserts.

A tool's tag spec lives in the tool's own file; the table of every model tag
(parser, stop strings, regexes, routing, recursion budget) is derived from the
registered tools in :mod:`agent.controller.toolbox`.
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


def names_pattern(names: list[str]) -> str:
    """An alternation of the tag names, for the tag regexes."""
    return "|".join(re.escape(n) for n in names)



ANSWER = TagSpec(name=ANSWER_TAG, keeps_layout=True)
CONTROLLER_TAG = re.compile(rf"<(/?)({names_pattern([b.name for b in CONTROLLER_BLOCKS])})>")

"""The tools the model may call, one :class:`~agent.controller.toolbox.base.Tool` per file; this list registers them.

Their order is the order a segment's closing tag is looked for (before ``<answer>``). The tag table
(parser, stop strings, regexes, routing, recursion budget) is derived from them here.
"""

from __future__ import annotations

import re
from functools import cache

from agent.controller.tags import ANSWER, CONTROLLER_BLOCKS, TagSpec, names_pattern
from agent.controller.toolbox import python, recall, subq
from agent.controller.toolbox.base import Tool

TOOLS: tuple[Tool, ...] = (recall.TOOL, subq.TOOL, python.TOOL)
BY_NAME: dict[str, Tool] = {t.name: t for t in TOOLS}


class TagTable:
    """Every model tag (the registered tools' and ``answer``) and what is derived from them."""

    def __init__(self, model_tags: tuple[TagSpec, ...]) -> None:
        #: The tags the model may write, in the order a segment's closer is looked for.
        self.model_tags = model_tags
        self.tags: dict[str, TagSpec] = {t.name: t for t in model_tags}
        #: Openers of blocks only the controller writes: a model that starts one is forging (it wrote whole
        #: made-up <evidence> passages after its first recall), so generation stops there.
        self.forged_openers: tuple[str, ...] = tuple(b.open for b in CONTROLLER_BLOCKS)
        self.stop_strings: list[str] = [t.close for t in model_tags] + list(self.forged_openers)
        #: Request tag -> the node that serves it.
        self.routes: dict[str, str] = {t.name: t.node for t in model_tags if t.node}
        self.tool_nodes: tuple[str, ...] = tuple(dict.fromkeys(self.routes.values()))
        #: Distinct per-attempt budgets that tag requests spend (two tags may share one).
        self.tag_budgets: tuple[str, ...] = tuple(dict.fromkeys(t.budget for t in model_tags if t.budget))
        self.any_tag = re.compile(rf"</?({names_pattern([*self.tags, *(b.name for b in CONTROLLER_BLOCKS)])})>")
        self.opener = re.compile(rf"<({names_pattern(list(self.tags))})>")


@cache
def tag_table() -> TagTable:
    """The registered tools' tags, then ``answer``."""
    return TagTable((*(t.spec for t in TOOLS), ANSWER))


__all__ = ["BY_NAME", "TOOLS", "TagTable", "Tool", "tag_table"]

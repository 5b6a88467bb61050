"""The tools the model may call, one :class:`~agent.controller.toolbox.base.Tool` per file; this list registers them.

Their order is the order a segment's closing tag is looked for (before ``<answer>``).
"""

from __future__ import annotations

from agent.controller.toolbox import python, recall, subq
from agent.controller.toolbox.base import Tool

TOOLS: tuple[Tool, ...] = (recall.TOOL, subq.TOOL, python.TOOL)
BY_NAME: dict[str, Tool] = {t.name: t for t in TOOLS}

__all__ = ["BY_NAME", "TOOLS", "Tool"]

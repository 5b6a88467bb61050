"""What a tool the model may call is: one object holding its tag, its menu line, its node and when it applies.

The graph's tool nodes, routing after ``think``, the stop strings and the
``offer_tools`` choices are derived from :data:`agent.controller.toolbox.TOOLS`,
so a tool cannot be half-registered (listed but never offered, or offered but never routed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agent.controller.state import Part, SolveState
from agent.controller.tags import TagSpec

NodeFn = Callable[[SolveState, Any], Awaitable[dict[str, Any]]]


def served(state: SolveState, trace: Any, parts: list[Part], counters: Any) -> dict[str, Any]:
    """What a tool node returns: its reply appended to the transcript, its budget counted, the request cleared."""
    return {"trace": trace, "parts": [*state.parts, *parts], "counters": counters, "request": None}


@dataclass(frozen=True)
class Tool:
    spec: TagSpec
    """The tag the model writes, the node that serves it, the ``Budgets`` field capping it and its reply block."""
    line: str
    """The tool's line in the menu the model is shown (only when the tool applies)."""
    run: NodeFn
    """The graph node serving one request: reads the state, returns the fields it changes."""
    applies: Callable[[str, list[Part]], bool]
    """Whether to list the tool for a problem with this document, given the parts inserted before the first segment."""

    @property
    def name(self) -> str:
        return self.spec.name

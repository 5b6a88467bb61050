"""``<python>``: run a snippet in the sandbox and show what it prints."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from agent.controller.state import Part, SolveState, ToolCall
from agent.controller.tags import OUTPUT, TagSpec
from agent.controller.toolbox.base import Tool, served
from tools.sandbox.pytool import python_tool

PYTHON = TagSpec(name="python", node="run_python", budget="tool_calls", keeps_layout=True, block=OUTPUT)


async def run_python(state: SolveState, runtime: Any) -> dict[str, Any]:
    """``<python>``: run the snippet in the sandbox and show its output."""
    t0 = time.perf_counter()
    code = f"{state.preload}\n\n{state.request_body}" if state.preload else state.request_body
    shown = await asyncio.to_thread(python_tool, code)
    trace = state.trace.model_copy(deep=True)
    trace.tool_calls.append(ToolCall(node="run_python", kind="python", input=state.request_body[:500],
                                     output=shown.text[:500], ok=shown.ok, seconds=time.perf_counter() - t0))
    part = Part(kind=OUTPUT.name, text=OUTPUT.render(shown.text))
    return served(state, trace, [part], state.counters.bump(PYTHON.budget))


TOOL = Tool(
    spec=PYTHON,
    line=f"{PYTHON.open}print(12 * 7){PYTHON.close} runs Python and shows what it prints, inside "
         f"{OUTPUT.open}...{OUTPUT.close}.",
    run=run_python,
    applies=lambda document, parts: True,
)

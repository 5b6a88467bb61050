"""The Python tool a model may call for arithmetic: run a snippet in the sandbox, return what to show it."""

from __future__ import annotations

from pydantic import BaseModel

from tools.sandbox import SandboxLimits, SandboxUnavailable, run_python

__all__ = ["TOOL_LIMITS", "SandboxUnavailable", "ToolOutput", "python_tool"]

TOOL_LIMITS = SandboxLimits(cpu_seconds=3, wall_seconds=6, memory_mb=768, max_output_chars=2000)


class ToolOutput(BaseModel):
    """What the model is shown, and whether the snippet ran cleanly (callers must not parse ``text`` for that)."""

    text: str
    ok: bool


def python_tool(code: str, limits: SandboxLimits | None = None, *, allow_weak_sandbox: bool = False) -> ToolOutput:
    """Printed output plus the value of a trailing expression, or the error, as one short observation.

    Raises :class:`SandboxUnavailable` when the jail cannot run here (unless
    ``allow_weak_sandbox``): a missing jail is the operator's to fix, not an
    observation to show the model.
    """
    result = run_python(code, limits=limits or TOOL_LIMITS, allow_weak_sandbox=allow_weak_sandbox)
    parts = [result.stdout.rstrip()] if result.stdout.strip() else []
    if result.ok:
        if result.value is not None:
            parts.append(repr(result.value) if not isinstance(result.value, str) else result.value)
        return ToolOutput(text="\n".join(parts) or "(no output)", ok=True)
    parts.append(f"error ({result.error}): {result.message}")
    return ToolOutput(text="\n".join(parts), ok=False)

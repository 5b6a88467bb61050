"""The Python tool a model may call for arithmetic: run a snippet in the sandbox, return what to show it."""

from __future__ import annotations

from pydantic import BaseModel

from tools.sandbox.run import SandboxLimits, SandboxUnavailable, run_python

__all__ = ["TOOL_LIMITS", "SandboxUnavailable", "ToolOutput", "cut", "python_tool"]

TOOL_LIMITS = SandboxLimits(cpu_seconds=3, wall_seconds=6, memory_mb=768, max_output_chars=2000)


class ToolOutput(BaseModel):
    """What the model is shown, and whether the snippet ran cleanly (callers must not parse ``text`` for that)."""

    text: str
    ok: bool


def cut(text: str, limit: int) -> str:
    """``text`` at most ``limit`` characters plus a marker: the value goes into the prompt, as stdout does,
    so it gets the same cap here, whatever the child sent."""
    return text if len(text) <= limit else text[:limit] + "\n[... value truncated]"


def python_tool(code: str, limits: SandboxLimits | None = None, *, allow_weak_sandbox: bool = False) -> ToolOutput:
    """Printed output plus the value of a trailing expression, or the error, as one short observation.

    Raises :class:`SandboxUnavailable` when the jail cannot run here (unless
    ``allow_weak_sandbox``): a missing jail is the operator's to fix, not an
    observation to show the model.
    """
    limits = limits or TOOL_LIMITS
    result = run_python(code, limits=limits, allow_weak_sandbox=allow_weak_sandbox)
    parts = [result.stdout.rstrip()] if result.stdout.strip() else []
    if result.ok:
        if result.value is not None:
            parts.append(cut(result.value if isinstance(result.value, str) else repr(result.value), limits.max_output_chars))
        return ToolOutput(text="\n".join(parts) or "(no output)", ok=True)
    parts.append(f"error ({result.error}): {result.message}")
    return ToolOutput(text="\n".join(parts), ok=False)

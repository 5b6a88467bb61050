"""The problem and verifier contract shared by domain tools, the controller and the batch runner."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

#: The tag a solution's final answer is written in (``<answer>...</answer>``). It is part of this
#: contract because scoring reads it too; the controller's tag table takes the name from here.
ANSWER_TAG = "answer"


class Problem(BaseModel):
    """One thing to solve. ``gold`` is never shown to the model or to ``verify`` while this problem is solved;
    scoring reads it, and a training problem's gold may be shown as an expected output when a
    procedure that failed on it is repaired (never a dev problem's)."""

    id: str
    domain: str = Field("text", description="'arc', 'math' or 'text'.")
    prompt: str = Field(description="The question as shown to the model.")
    context: str = Field("", description="Long input the model may recall evidence from.")
    gold: Any = None
    meta: dict[str, Any] = Field(default_factory=dict)


class Verdict(BaseModel):
    ok: bool
    score: float = 0.0
    feedback: str = ""


@runtime_checkable
class Verifier(Protocol):
    """Checks a candidate answer without the gold answer; ``feedback`` is shown on a retry."""

    def __call__(self, answer: str) -> Verdict: ...

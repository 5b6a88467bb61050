"""What the controller needs from a language model, independent of the engine.

The vLLM engine (``agent.engine.Engine``) implements :class:`TextGenerator`;
unit tests implement it with a scripted model. Requests and results are
pydantic models so a trace can store them as they are.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class GenParams(BaseModel):
    """Sampling for one request. ``choice``/``regex`` constrain the output (structured outputs)."""

    max_tokens: int = Field(256, gt=0)
    temperature: float = Field(0.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    stop: list[str] = Field(default_factory=list)
    include_stop: bool = Field(True, description="Append the matched stop string to the text.")
    seed: int | None = None
    choice: list[str] | None = None
    regex: str | None = None
    extra_args: dict[str, Any] | None = Field(None, description="Per-request args for engine logits processors.")


class Completion(BaseModel):
    text: str
    prompt_tokens: int
    generated_tokens: int
    finish_reason: str = Field(description="'stop' (EOS or stop string) or 'length'.")
    stop_reason: str | None = Field(None, description="The stop string that ended it, if any.")
    seconds: float = 0.0


@runtime_checkable
class TextGenerator(Protocol):
    """Raw-prompt generation plus chat-template rendering.

    ``agenerate`` is the primary path: every prompt is its own engine request,
    submitted at once, so concurrent callers (asyncio tasks) share the engine's
    continuous batch. ``generate`` is the same for synchronous callers.
    """

    def generate(self, prompts: list[str], params: GenParams | list[GenParams]) -> list[Completion]: ...

    async def agenerate(self, prompts: list[str], params: GenParams | list[GenParams]) -> list[Completion]: ...

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str: ...

    def count_tokens(self, text: str) -> int: ...

"""What the controller needs from a language model, independent of the engine.

The vLLM engine (``agent.engine.Engine``) implements :class:`TextGenerator`;
unit tests implement it with a scripted model over :class:`GeneratorDefaults`. Requests and results are
pydantic models so a trace can store them as they are.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from agent.blocking import blocking


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
    cached_tokens: int = Field(0, description="Prompt tokens the engine took from its prefix cache instead of "
                               "computing them.")
    seconds: float = 0.0


class TextGenerator(Protocol):
    """Everything callers use of a model: generation (batched, streamed), chat rendering, token counts, limits, close.

    Modelled on vLLM's ``EngineClient``: the whole surface is declared, so no caller
    probes an engine with ``getattr``. ``agenerate`` is the primary path: every prompt
    is its own engine request, submitted at once, so concurrent callers share the
    engine's continuous batch. Stand-ins derive from :class:`GeneratorDefaults`.
    """

    device: str
    """Where it runs (``cpu``, ``cuda``), for ``mnemos doctor``."""
    tokenizer: Any
    """The Hugging Face tokenizer, or None (token-level verbatim copy then falls back to sentences)."""
    max_model_len: int | None
    """Context (prompt + output) in tokens; None = the settings' value."""
    max_num_seqs: int | None
    kv_cache_gib: float | None
    model_dir: Path | None
    """The checkpoint, for the KV planner's figures; None when there is none to read."""

    @property
    def kv_capacity_tokens(self) -> int | None:
        """KV cache tokens the engine allocated, once known."""

    def generate(self, prompts: list[str], params: GenParams | list[GenParams]) -> list[Completion]: ...

    async def agenerate(self, prompts: list[str], params: GenParams | list[GenParams]) -> list[Completion]: ...

    def astream(self, prompt: str, params: GenParams | None = None) -> AsyncIterator[str]: ...

    def stream(self, prompt: str, params: GenParams | None = None) -> Iterator[str]: ...

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str: ...

    def count_tokens(self, text: str) -> int: ...

    def close(self) -> None: ...


class GeneratorDefaults:
    """What a model without an engine behind it (scripted stand-ins, wrappers) answers for the optional parts.

    No tokenizer, no limits of its own (the settings' apply), nothing to close; a
    stream is the whole completion as one piece.
    """

    device: str = "none"
    tokenizer: Any = None
    max_model_len: int | None = None
    max_num_seqs: int | None = None
    kv_cache_gib: float | None = None
    model_dir: Path | None = None
    kv_capacity_tokens: int | None = None

    async def agenerate(self, prompts: list[str], params: GenParams | list[GenParams]) -> list[Completion]:
        raise NotImplementedError

    async def astream(self, prompt: str, params: GenParams | None = None) -> AsyncGenerator[str, None]:
        [out] = await self.agenerate([prompt], params or GenParams())
        yield out.text

    stream = blocking(astream)

    def close(self) -> None:
        """Nothing to release."""

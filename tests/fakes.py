"""A scripted stand-in for the engine, for control-flow tests only.

It enforces what the real engine enforces, so tests see what vLLM would do:
stop strings and ``max_tokens`` cut the text; a ``choice`` or ``regex``
constraint that the scripted output violates raises, because structured
outputs would have made that output impossible (a test that scripts it is
testing something that cannot happen).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable

from agent.llm import ChatMessage, Completion, GenParams, GeneratorDefaults


class ConstraintViolation(AssertionError):
    """A scripted output that the request's structured-output constraint would have prevented."""


class ScriptedGenerator(GeneratorDefaults):
    """Returns scripted outputs in order (or from a function of the prompt), honouring the request's params."""

    def __init__(self, script: Iterable[str] | Callable[[str, GenParams], str]):
        self._fn = script if callable(script) else None
        self._queue = [] if callable(script) else list(script)
        self.prompts: list[str] = []
        self.params: list[GenParams] = []

    def _next(self, prompt: str, params: GenParams) -> str:
        if self._fn is not None:
            return self._fn(prompt, params)
        if not self._queue:
            raise AssertionError("scripted model ran out of outputs")
        return self._queue.pop(0)

    def _complete(self, prompt: str, p: GenParams) -> Completion:
        self.prompts.append(prompt)
        self.params.append(p)
        text = self._next(prompt, p)
        if p.choice is not None and text not in p.choice:
            raise ConstraintViolation(f"scripted output {text!r} is not one of the allowed choices {p.choice!r}")
        if p.regex is not None and re.fullmatch(p.regex, text) is None:
            raise ConstraintViolation(f"scripted output {text!r} does not match the required regex {p.regex!r}")
        finish, reason = "stop", None
        hits = [(text.find(s), s) for s in p.stop if s in text]
        if hits:
            pos, reason = min(hits)
            text = text[: pos + (len(reason) if p.include_stop else 0)]
        words = list(re.finditer(r"\S+", text))
        if len(words) > p.max_tokens:
            # Cut where the first dropped word starts, keeping the whitespace, as a tokenizer would.
            text, finish, reason = text[: words[p.max_tokens].start()], "length", None
        return Completion(text=text, prompt_tokens=self.count_tokens(prompt), generated_tokens=self.count_tokens(text),
                          finish_reason=finish, stop_reason=reason)

    def generate(self, prompts: list[str], params: GenParams | list[GenParams]) -> list[Completion]:
        plist = params if isinstance(params, list) else [params] * len(prompts)
        return [self._complete(prompt, p) for prompt, p in zip(prompts, plist, strict=True)]

    async def agenerate(self, prompts: list[str], params: GenParams | list[GenParams]) -> list[Completion]:
        # Yield once, as a real engine request would, so concurrent solves really interleave.
        await asyncio.sleep(0)
        return self.generate(prompts, params)

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        body = "".join(f"<|{m.role}|>{m.content}\n" for m in messages)
        return body + ("<|assistant|>" if add_generation_prompt else "")

    def count_tokens(self, text: str) -> int:
        return len(text.split())

"""A scripted stand-in for the engine, for control-flow tests only."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from agent.llm import ChatMessage, Completion, GenParams


class ScriptedGenerator:
    """Returns scripted outputs in order (or from a function of the prompt), honouring stop strings."""

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

    def generate(self, prompts: list[str], params: GenParams | list[GenParams]) -> list[Completion]:
        plist = params if isinstance(params, list) else [params] * len(prompts)
        out = []
        for prompt, p in zip(prompts, plist, strict=True):
            self.prompts.append(prompt)
            self.params.append(p)
            text = self._next(prompt, p)
            if p.choice:
                text = text if text in p.choice else p.choice[0]
            finish, reason = "stop", None
            hits = [(text.find(s), s) for s in p.stop if s in text]
            if hits:
                pos, reason = min(hits)
                text = text[: pos + (len(reason) if p.include_stop else 0)]
            words = list(re.finditer(r"\S+", text))
            if len(words) > p.max_tokens:
                # Cut where the first dropped word starts, keeping the whitespace, as a tokenizer would.
                text, finish, reason = text[: words[p.max_tokens].start()], "length", None
            out.append(Completion(text=text, prompt_tokens=self.count_tokens(prompt),
                                  generated_tokens=self.count_tokens(text), finish_reason=finish, stop_reason=reason))
        return out

    def render_chat(self, messages: list[ChatMessage], add_generation_prompt: bool = True) -> str:
        body = "".join(f"<|{m.role}|>{m.content}\n" for m in messages)
        return body + ("<|assistant|>" if add_generation_prompt else "")

    def count_tokens(self, text: str) -> int:
        return len(text.split())

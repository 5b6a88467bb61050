"""The Python API: one :class:`Agent` holding settings, a lazily started engine and the stores.

It only wires parts together; generation lives in ``agent.engine``, solving in
``agent.controller``, batch runs in ``agent.batch``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config import Settings
from agent.llm import ChatMessage, GenParams, TextGenerator

if TYPE_CHECKING:
    from memory import MemoryStores


class Agent:
    """Chat with, and solve problems on, a local model with durable memory."""

    def __init__(self, settings: Settings | None = None, llm: TextGenerator | None = None,
                 system_prompt: str | None = None):
        self.settings = settings or Settings()
        self._llm = llm
        self._memory: MemoryStores | None = None
        self.system_prompt = system_prompt
        self.history: list[ChatMessage] = []

    @classmethod
    def from_config(cls, config_file: str | Path | None = None, **overrides: Any) -> "Agent":
        """Settings from the config file, ``MNEMOS_*`` variables and ``overrides``."""
        return cls(Settings.load(Path(config_file) if config_file else None, **overrides))

    @property
    def llm(self) -> TextGenerator:
        """The engine, started on first use (it takes tens of seconds on CPU)."""
        if self._llm is None:
            from agent.engine import Engine

            self._llm = Engine.from_settings(self.settings)
        return self._llm

    @property
    def memory(self) -> "MemoryStores":
        if self._memory is None:
            from memory import open_memory
            from retrieval.embedder import Embedder

            self._memory = open_memory(self.settings.db_url, self.settings.index_dir, Embedder(self.settings.embedder))
        return self._memory

    def _params(self) -> GenParams:
        s = self.settings
        return GenParams(max_tokens=s.max_tokens, temperature=s.temperature, top_p=s.top_p)

    def _prompt(self, message: str) -> str:
        system = [ChatMessage(role="system", content=self.system_prompt)] if self.system_prompt else []
        return self.llm.render_chat([*system, *self.history, ChatMessage(role="user", content=message)])

    def chat(self, message: str) -> str:
        """One conversational turn; the exchange is kept in :attr:`history`."""
        answer = self.llm.generate([self._prompt(message)], self._params())[0].text.strip()
        self._remember(message, answer)
        return answer

    def chat_stream(self, message: str) -> Iterator[str]:
        """Like :meth:`chat`, yielding text as it is decoded (needs the real engine)."""
        stream = getattr(self.llm, "stream", None)
        if stream is None:
            yield self.chat(message)
            return
        pieces: list[str] = []
        for piece in stream(self._prompt(message), self._params()):
            pieces.append(piece)
            yield piece
        self._remember(message, "".join(pieces).strip())

    def _remember(self, message: str, answer: str) -> None:
        self.history += [ChatMessage(role="user", content=message), ChatMessage(role="assistant", content=answer)]

    def reset(self) -> None:
        self.history = []

    def save(self, path: str | Path) -> Path:
        """Write the conversation as JSON (a list of role/content messages)."""
        path = Path(path).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([m.model_dump() for m in self.history], indent=2))
        return path

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None
        close = getattr(self._llm, "close", None)
        if close is not None:
            close()
        self._llm = None

    def __enter__(self) -> "Agent":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

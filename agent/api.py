"""The Python API: one :class:`Agent` holding settings, a lazily started engine and the stores.

It only wires parts together; generation lives in ``agent.engine``, solving in
``agent.controller``, batch runs in ``agent.batch``. The ``a``-prefixed methods
are the real ones (async, so many solves share the engine's continuous batch);
``solve``, ``chat`` and ``solve_batch`` are the same for plain scripts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agent.config import Settings
from agent.llm import ChatMessage, GenParams, TextGenerator
from tools.domains import VerifyMode
from tools.problem import Problem, Verifier

if TYPE_CHECKING:
    from agent.batch.runner import BatchSummary
    from agent.controller import Controller, SolveResult
    from memory import MemoryStores

T = TypeVar("T")


def _run_sync(coro: Coroutine[Any, Any, T], name: str) -> T:
    """Run ``coro`` to the end for a synchronous caller; inside an event loop, point to the async method."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError(f"Agent.{name} was called inside a running event loop; use `await Agent.a{name}(...)`")


class Agent:
    """Chat with, and solve problems on, a local model with durable memory."""

    def __init__(self, settings: Settings | None = None, llm: TextGenerator | None = None,
                 system_prompt: str | None = None):
        self.settings = settings or Settings()
        self._llm = llm
        self._memory: MemoryStores | None = None
        self._controller: Controller | None = None
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
            from agent.memory_access import open_memory

            self._memory = open_memory(self.settings)
        return self._memory

    @property
    def controller(self) -> "Controller":
        if self._controller is None:
            from agent.controller import Controller

            memory = self.memory if self.settings.memory_mode != "off" else None
            self._controller = Controller(self.llm, memory, self.settings)
        return self._controller

    async def _allm(self) -> TextGenerator:
        """:attr:`llm` without blocking the event loop while the engine starts."""
        return self._llm if self._llm is not None else await asyncio.to_thread(lambda: self.llm)

    async def asolve(self, problem: Problem | str, *, context: str = "", verifier: Verifier | None = None,
                     thread_id: str | None = None, run_id: str = "api") -> "SolveResult":
        """Run the controller on one problem and record it as an episode of ``run_id``.

        A plain string becomes a text problem (with ``context`` to recall from).
        Without an explicit ``verifier`` the problem's domain supplies its gold-free one.
        ``thread_id`` names the LangGraph checkpoint thread, so an interrupted solve resumes.
        """
        from agent.batch.runner import BatchConfig, episode_from_result
        from tools.domains import get_domain

        if isinstance(problem, str):
            digest = hashlib.sha1(f"{problem}\0{context}".encode()).hexdigest()[:12]
            problem = Problem(id=f"q-{digest}", prompt=problem, context=context)
        if verifier is None:
            verifier = get_domain(problem.domain).verifier(problem)
        await self._allm()
        result = await self.controller.asolve(problem, verifier=verifier, thread_id=thread_id)
        config = BatchConfig(run_id=run_id, memory_mode=self.settings.memory_mode, progress=False)
        episode = self.memory.episodes.add(episode_from_result(problem, result, config, result.seconds))
        result.episode_id = episode.id
        return result

    def solve(self, problem: Problem | str, *, context: str = "", verifier: Verifier | None = None,
              thread_id: str | None = None, run_id: str = "api") -> "SolveResult":
        """:meth:`asolve` for synchronous callers."""
        return _run_sync(self.asolve(problem, context=context, verifier=verifier, thread_id=thread_id, run_id=run_id),
                         "solve")

    async def asolve_batch(self, problems: list[Problem], run_id: str, *, concurrency: int | None = None,
                           progress: bool = True, verify: VerifyMode = "domain") -> "BatchSummary":
        """Solve many problems concurrently (their requests share the engine's batch); resumable by ``run_id``.

        ``concurrency`` None: as many as the KV cache holds (see ``agent.batch.concurrency``).
        ``verify="gold"`` checks answers against the gold ones, which lets a labelled training split
        build memory in learning mode (math has no gold-free check); see :class:`tools.domains.GoldVerifier`.
        """
        from agent.batch.session import asolve_set

        return await asolve_set(problems, self.settings, run_id, concurrency=concurrency, progress=progress,
                                verify=verify, llm=await self._allm(), memory=self.memory)

    def solve_batch(self, problems: list[Problem], run_id: str, *, concurrency: int | None = None,
                    progress: bool = True, verify: VerifyMode = "domain") -> "BatchSummary":
        """:meth:`asolve_batch` for synchronous callers."""
        return _run_sync(self.asolve_batch(problems, run_id, concurrency=concurrency, progress=progress, verify=verify),
                         "solve_batch")

    def _params(self) -> GenParams:
        s = self.settings
        return GenParams(max_tokens=s.max_tokens, temperature=s.temperature, top_p=s.top_p)

    def _prompt(self, message: str) -> str:
        system = [ChatMessage(role="system", content=self.system_prompt)] if self.system_prompt else []
        return self.llm.render_chat([*system, *self.history, ChatMessage(role="user", content=message)])

    async def achat(self, message: str) -> str:
        """One conversational turn; the exchange is kept in :attr:`history`."""
        llm = await self._allm()
        answer = (await llm.agenerate([self._prompt(message)], self._params()))[0].text.strip()
        self._remember(message, answer)
        return answer

    def chat(self, message: str) -> str:
        """:meth:`achat` for synchronous callers."""
        return _run_sync(self.achat(message), "chat")

    async def achat_stream(self, message: str) -> AsyncIterator[str]:
        """Like :meth:`achat`, yielding text as it is decoded (needs the real engine's ``astream``)."""
        llm = await self._allm()
        astream = getattr(llm, "astream", None)
        if astream is None:
            yield await self.achat(message)
            return
        pieces: list[str] = []
        async for piece in astream(self._prompt(message), self._params()):
            pieces.append(piece)
            yield piece
        self._remember(message, "".join(pieces).strip())

    def chat_stream(self, message: str) -> Iterator[str]:
        """:meth:`achat_stream` for synchronous callers (the chat CLI): the engine's ``stream`` bridges it."""
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
        if self._controller is not None:
            self._controller.close()
            self._controller = None
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

"""The Python API: one :class:`Agent` holding settings, a lazily started engine and the stores.

It only wires parts together; generation lives in ``agent.engine``, solving in
``agent.controller``, batch runs in ``agent.batch``. The ``a``-prefixed methods
are the real ones (async, so many solves share the engine's continuous batch);
``solve``, ``chat``, ``chat_stream`` and ``solve_batch`` are derived from them by
:func:`agent.blocking.blocking`. Starting parts once however many callers ask is
:mod:`agent.once`; cancelling what runs when the Agent closes is :mod:`agent.inflight`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from agent.blocking import blocking
from agent.config import Settings
from agent.inflight import CallCancelledError, Calls, tracked
from agent.llm import ChatMessage, GenParams, TextGenerator
from agent.once import AgentClosedError, Once
from tools.domains import VerifyMode
from tools.problem import Problem, Verifier

if TYPE_CHECKING:
    from agent.batch.runner import BatchSummary
    from agent.controller import Controller, SolveResult
    from memory import MemoryStores

__all__ = ["Agent", "AgentClosedError", "CallCancelledError"]


class Agent:
    """Chat with, and solve problems on, a local model with durable memory.

    One Agent is meant to be shared: any number of coroutines (on one loop or several) and
    threads may call it at once. Its engine, stores and controller are each started once, on
    first use, however many calls arrive together; the others wait for that start. Closing it
    cancels the calls still running (each raises :class:`CallCancelledError`), shuts the
    engine's processes down and refuses later calls with :class:`AgentClosedError`.
    """

    def __init__(self, settings: Settings | None = None, llm: TextGenerator | None = None,
                 system_prompt: str | None = None):
        self.settings = settings or Settings()
        self._calls = Calls()
        self._llm: Once[TextGenerator] = Once("engine", self._start_engine, value=llm)
        self._memory: Once[MemoryStores] = Once("memory stores", self._open_memory)
        self._controller: Once[Controller] = Once("controller", self._build_controller)
        self.system_prompt = system_prompt
        self.history: list[ChatMessage] = []

    @classmethod
    def from_config(cls, config_file: str | Path | None = None, **overrides: Any) -> Agent:
        """Settings from the config file, ``MNEMOS_*`` variables and ``overrides``."""
        return cls(Settings.load(Path(config_file) if config_file else None, **overrides))

    def _start_engine(self) -> TextGenerator:
        from agent.engine import make_engine

        return make_engine(self.settings)

    def _open_memory(self) -> MemoryStores:
        from agent.memory_access import open_memory

        return open_memory(self.settings)

    def _build_controller(self) -> Controller:
        from agent.controller import Controller

        memory = self._memory.get()  # first: a bad store fails in a second, not after the model loads
        return Controller(self._llm.get(), memory if self.settings.memory_mode != "off" else None, self.settings)

    # Blocking views of the parts, for scripts and the chat CLI; async code awaits the methods instead.
    @property
    def llm(self) -> TextGenerator:
        """The engine, started on first use (tens of seconds on CPU); blocks until it is up."""
        return self._llm.get()

    @property
    def memory(self) -> MemoryStores:
        """The memory stores, opened on first use."""
        return self._memory.get()

    @property
    def controller(self) -> Controller:
        """The reasoning controller, built (with the engine and stores) on first use."""
        return self._controller.get()

    @tracked
    async def asolve(self, problem: Problem | str, *, context: str = "", verifier: Verifier | None = None,
                     thread_id: str | None = None, run_id: str = "api") -> SolveResult:
        """Run the controller on one problem and record it as an episode of ``run_id``.

        A plain string becomes a text problem (with ``context`` to recall from).
        Without an explicit ``verifier`` the problem's domain supplies its gold-free one.
        ``thread_id`` names the LangGraph checkpoint thread, so an interrupted solve resumes.
        Many calls may run at once (``asyncio.gather``): they share one engine and its batch.
        """
        from agent.episodes import RunLabels, awrite_episode, episode_from_result
        from tools.domains import get_domain

        if isinstance(problem, str):
            digest = hashlib.sha1(f"{problem}\0{context}".encode()).hexdigest()[:12]
            problem = Problem(id=f"q-{digest}", prompt=problem, context=context)
        if verifier is None:
            verifier = get_domain(problem.domain).verifier(problem)
        controller = await self._controller.aget()
        memory = await self._memory.aget()
        result = await controller.asolve(problem, verifier=verifier, thread_id=thread_id)
        labels = RunLabels(run_id=run_id, memory_mode=self.settings.memory_mode)
        episode = await awrite_episode(memory.episodes, episode_from_result(problem, result, labels, result.seconds))
        result.episode_id = episode.id
        return result

    solve = blocking(asolve)

    @tracked
    async def asolve_batch(self, problems: list[Problem], run_id: str, *, concurrency: int | None = None,
                           progress: bool = True, verify: VerifyMode = "domain") -> BatchSummary:
        """Solve many problems concurrently (their requests share the engine's batch); resumable by ``run_id``.

        ``concurrency`` None: as many as the KV cache holds (see ``agent.batch.concurrency``).
        ``verify="gold"`` checks answers against the gold ones, which lets a labelled training split
        build memory in learning mode (math has no gold-free check); see :class:`tools.domains.GoldVerifier`.
        """
        from agent.batch.session import asolve_set

        memory = await self._memory.aget()
        return await asolve_set(problems, self.settings, run_id, concurrency=concurrency, progress=progress,
                                verify=verify, llm=await self._llm.aget(), memory=memory)

    solve_batch = blocking(asolve_batch)

    def _params(self) -> GenParams:
        s = self.settings
        return GenParams(max_tokens=s.max_tokens, temperature=s.temperature, top_p=s.top_p)

    def _prompt(self, llm: TextGenerator, message: str) -> str:
        system = [ChatMessage(role="system", content=self.system_prompt)] if self.system_prompt else []
        return llm.render_chat([*system, *self.history, ChatMessage(role="user", content=message)])

    async def _reply(self, llm: TextGenerator, message: str) -> str:
        answer = (await llm.agenerate([self._prompt(llm, message)], self._params()))[0].text.strip()
        self._remember(message, answer)
        return answer

    @tracked
    async def achat(self, message: str) -> str:
        """One conversational turn; the exchange is kept in :attr:`history`."""
        return await self._reply(await self._llm.aget(), message)

    chat = blocking(achat)

    @tracked
    async def achat_stream(self, message: str) -> AsyncGenerator[str, None]:
        """Like :meth:`achat`, yielding text as it is decoded."""
        llm = await self._llm.aget()
        pieces: list[str] = []
        async for piece in llm.astream(self._prompt(llm, message), self._params()):
            pieces.append(piece)
            yield piece
        self._remember(message, "".join(pieces).strip())

    chat_stream = blocking(achat_stream)

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
        """Cancel the calls in flight, then close the controller, the stores and the engine; later calls are refused.

        Each cancelled call raises :class:`CallCancelledError`; episodes and memory written before stay.
        An engine still starting is waited for and shut down, so no engine process outlives this call.
        """
        self._calls.close()
        for part in (self._controller, self._memory, self._llm):
            part.close()

    async def aclose(self) -> None:
        """:meth:`close` from async code: the calls on this loop unwind while a worker thread waits for them."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

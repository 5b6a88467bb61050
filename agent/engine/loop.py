"""A private event loop on its own thread, shared by every engine implementation.

Engines hold loop-bound objects (vLLM's ``AsyncLLM`` output handler, an HTTP
client's connection pool). Running them on one private loop lets callers on any
loop (``await``) and plain threads (blocking calls) feed the same engine, and a
stream started on that loop is relayed piece by piece to whichever loop reads it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

from agent.blocking import blocking

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running forever on a daemon thread until :meth:`stop`."""

    def __init__(self, name: str):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and block this thread for its result (cancelled if we are interrupted)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a blocking engine call was made on the engine's own loop; await the async method")
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result()
        except BaseException:
            fut.cancel()  # e.g. Ctrl-C: abort the requests instead of leaving them running
            raise

    async def on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the private loop from whatever loop the caller runs."""
        if asyncio.get_running_loop() is self.loop:
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def relay(self, make: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
        """Iterate ``make()`` on the private loop, yielding its items on the caller's loop; closing early cancels it."""
        if asyncio.get_running_loop() is self.loop:
            async for item in make():
                yield item
            return
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue()

        def put(entry: tuple[bool, Any]) -> None:
            loop.call_soon_threadsafe(items.put_nowait, entry)

        async def pump() -> None:
            try:
                async for item in make():
                    put((True, item))
            except BaseException as exc:  # noqa: BLE001 - delivered to the consumer, which re-raises it
                put((False, exc))
                if isinstance(exc, asyncio.CancelledError):
                    raise
                return
            put((False, None))

        fut = asyncio.run_coroutine_threadsafe(pump(), self.loop)
        try:
            while True:
                more, value = await items.get()
                if more:
                    yield value
                elif value is not None:
                    raise value
                else:
                    return
        finally:
            fut.cancel()

    def stop(self) -> None:
        """Stop the loop and join its thread (idempotent)."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        if not self._thread.is_alive():
            self.loop.close()


class LoopEngine:
    """The generation surface both engines share: batches and streams from any caller, run on the private loop.

    Subclasses set ``self._runner`` and ``self.defaults`` and implement ``_complete`` (one request; all of a
    batch are in flight at once) and ``_stream_here`` (text pieces of one prompt), both run on the loop.
    """

    _runner: LoopThread
    defaults: Any

    async def _prepare(self, prompts: list[str]) -> list[Any]:
        """What each request is sent as (the prompt itself, unless the engine renders it first)."""
        return prompts

    async def _complete(self, item: Any, params: Any) -> Any:
        raise NotImplementedError

    async def _generate_all(self, prompts: list[str], plist: list[Any]) -> list[Any]:
        items = await self._prepare(prompts)
        tasks = [asyncio.ensure_future(self._complete(i, p)) for i, p in zip(items, plist, strict=True)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            raise

    def _stream_here(self, prompt: str, params: Any) -> AsyncIterator[str]:
        raise NotImplementedError

    def _params_list(self, prompts: list[str], params: Any) -> list[Any]:
        plist = params if isinstance(params, list) else [params or self.defaults] * len(prompts)
        if len(plist) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(plist)} sampling params")
        return plist

    async def agenerate(self, prompts: list[str], params: Any = None) -> list[Any]:
        """One completion per prompt; each is its own request, so each returns as soon as it ends.

        Callable from any event loop. Cancelling the caller aborts the requests.
        """
        if not prompts:
            return []
        return await self._runner.on_loop(self._generate_all(list(prompts), self._params_list(prompts, params)))

    def generate(self, prompts: list[str], params: Any = None) -> list[Any]:
        """:meth:`agenerate` for synchronous callers (scripts, threads)."""
        if not prompts:
            return []
        return self._runner.run(self._generate_all(list(prompts), self._params_list(prompts, params)))

    async def astream(self, prompt: str, params: Any = None) -> AsyncIterator[str]:
        """Yield text pieces as they are decoded; stopping early aborts the request."""
        params = params or self.defaults
        async for piece in self._runner.relay(lambda: self._stream_here(prompt, params)):
            yield piece

    stream = blocking(astream)

"""The calls running on an Agent, so closing it cancels them wherever they run.

Calls arrive from many event loops at once (each thread's ``solve`` runs its own
``asyncio.run``), so a closing Agent cannot simply cancel "its" tasks: it keeps
a record per call of the loop and the task it runs in, cancels each on its own
loop, and waits until each has unwound before the engine and stores go away.
Each call runs in a task of its own, so closing never cancels the caller's code.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
import time
from collections.abc import AsyncGenerator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, overload

from agent.blocking import astep
from agent.once import AgentClosedError

T = TypeVar("T")
P = ParamSpec("P")


class CallCancelledError(AgentClosedError):
    """The Agent was closed while this call was running; its finished work (episodes, memory) is kept."""


@dataclass(eq=False)
class _Call:
    loop: asyncio.AbstractEventLoop
    task: asyncio.Task[Any]
    done: threading.Event = field(default_factory=threading.Event)
    closing: bool = False


class Calls:
    """Runs calls as tasks it can cancel from any thread, and refuses new ones once closed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[_Call] = set()
        self.closed = False

    def refuse_if_closed(self, what: str) -> None:
        if self.closed:
            raise AgentClosedError(f"the Agent is closed; {what} was refused (make a new Agent)")

    async def run(self, coro: Coroutine[Any, Any, T], what: str) -> T:
        """Await ``coro`` as a call that :meth:`close` cancels with :class:`CallCancelledError`."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.closed:
                coro.close()
                self.refuse_if_closed(what)
            call = _Call(loop, loop.create_task(coro))
            self._running.add(call)
        call.task.add_done_callback(lambda _: call.done.set())
        try:
            return await call.task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if call.closing and not (current is not None and current.cancelling()):
                raise CallCancelledError(f"the Agent was closed while {what} was running") from None
            raise
        finally:
            with self._lock:
                self._running.discard(call)

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new calls, cancel the running ones and wait (up to ``timeout`` s) until they have unwound.

        Calls on the loop running this very thread cannot unwind while it blocks here; they are
        cancelled and finish when it resumes.
        """
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        with self._lock:
            self.closed = True
            calls = list(self._running)
        for call in calls:
            call.closing = True
            try:
                call.loop.call_soon_threadsafe(call.task.cancel)
            except RuntimeError:  # its loop is already closed: nothing is left to cancel
                call.done.set()
        deadline = time.monotonic() + timeout
        for call in calls:
            if call.loop is not here:
                call.done.wait(max(0.0, deadline - time.monotonic()))


class Tracked(Protocol):
    """An owner of calls (the Agent)."""

    _calls: Calls


O = TypeVar("O", bound=Tracked)


@overload
def tracked(method: Callable[Concatenate[O, P], AsyncGenerator[T, None]]) -> Callable[Concatenate[O, P], AsyncGenerator[T, None]]: ...
@overload
def tracked(method: Callable[Concatenate[O, P], Coroutine[Any, Any, T]]) -> Callable[Concatenate[O, P], Coroutine[Any, Any, T]]: ...
def tracked(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run an async method (or each step of an async-generator method) as a call of its owner's :class:`Calls`."""
    what = method.__name__.removeprefix("a")
    if inspect.isasyncgenfunction(method):
        @functools.wraps(method)
        async def stream(self: Tracked, *args: Any, **kwargs: Any) -> AsyncGenerator[Any, None]:
            self._calls.refuse_if_closed(what)
            inner = method(self, *args, **kwargs)
            try:
                while True:
                    more, item = await self._calls.run(astep(inner), what)
                    if not more:
                        return
                    yield item
            finally:
                await inner.aclose()

        return stream

    @functools.wraps(method)
    async def call(self: Tracked, *args: Any, **kwargs: Any) -> Any:
        return await self._calls.run(method(self, *args, **kwargs), what)

    return call


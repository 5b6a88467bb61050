"""Single-flight lazy parts: one engine (or store, or controller) however many callers ask at once.

The Agent starts its parts on first use, and first uses arrive together: 32
``asolve`` calls gathered on a fresh Agent, or 8 threads each calling ``solve``.
An unguarded ``if self._x is None: self._x = build()`` starts one engine per
caller. :class:`Once` runs one build in its own thread and lets every caller,
blocking thread or coroutine on any event loop, wait for that one result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")


class AgentClosedError(RuntimeError):
    """The Agent is closed: it refuses new calls instead of silently starting a new engine."""


def dispose(part: object) -> None:
    """Close ``part`` if it has a ``close`` method (engines, stores, controllers do)."""
    close = getattr(part, "close", None)
    if close is not None:
        close()


class Once(Generic[T]):
    """A value built at most once at a time, on first demand, and closed with its owner.

    A failed build raises its own exception (the same object) in every caller that
    waited for it, and is not remembered: the next call tries again. A build that
    finishes after :meth:`close` is closed at once, so no started part outlives its owner.
    """

    def __init__(self, what: str, build: Callable[[], T], value: T | None = None):
        self.what = what
        self._build = build
        self._lock = threading.Lock()
        self._closed = False
        self._flight: Future[T] | None = None
        if value is not None:
            self._flight = Future()
            self._flight.set_result(value)

    def peek(self) -> T | None:
        """The value if it is built, without starting or waiting for anything."""
        fut = self._flight
        if fut is None or not fut.done() or fut.cancelled() or fut.exception() is not None:
            return None
        return fut.result()

    def _future(self) -> Future[T]:
        with self._lock:
            if self._closed:
                raise AgentClosedError(f"the Agent is closed; it will not start its {self.what} again (make a new Agent)")
            if self._flight is None:
                self._flight = Future()
                self._flight.set_running_or_notify_cancel()  # a waiter giving up cannot cancel the shared build
                threading.Thread(target=self._run, args=(self._flight,), name=f"mnemos-start-{self.what}",
                                 daemon=True).start()
            return self._flight

    def _run(self, fut: Future[T]) -> None:
        try:
            value = self._build()
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter
            with self._lock:
                self._flight = None
            fut.set_exception(exc)
            return
        with self._lock:
            orphan = self._closed
            if orphan:
                self._flight = None
        if orphan:
            dispose(value)
            fut.set_exception(AgentClosedError(f"the Agent was closed while its {self.what} was starting"))
        else:
            fut.set_result(value)

    def get(self) -> T:
        """The value, building it (or waiting for the build in flight) on this thread's behalf."""
        return self._future().result()

    async def aget(self) -> T:
        """:meth:`get` without blocking the event loop; cancelling the caller does not stop the shared build."""
        fut = self._future()
        return fut.result() if fut.done() else await asyncio.wrap_future(fut)

    def close(self) -> None:
        """Refuse further builds and close the value; a build in flight is waited for, then closed."""
        with self._lock:
            self._closed = True
            fut = self._flight
            self._flight = None
        if fut is None:
            return
        try:
            value = fut.result()
        except BaseException:  # noqa: BLE001 - a failed or orphaned build left nothing to close
            return
        dispose(value)

"""The synchronous API, derived from the async one: one helper, so the two can never drift apart.

Used for every sync/async pair (the Agent's methods, batch runs, engine streams).
``Agent.solve`` is ``blocking(Agent.asolve)``: same arguments, same checks, run to
the end on a private event loop. Streams (async generators) become plain iterators
driven step by step on one loop, so a sync caller still sees text as it is decoded.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar, overload

T = TypeVar("T")
S = TypeVar("S")
P = ParamSpec("P")


def _outside_loop(owner: str, name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"{owner}.{name} was called inside a running event loop; use `await {owner}.a{name}(...)` "
                       f"(`async for` over a stream)")


async def astep(stream: AsyncGenerator[T, None]) -> tuple[bool, T | None]:
    """One item of ``stream`` as ``(True, item)``, or ``(False, None)`` at its end (a task cannot raise StopAsyncIteration)."""
    try:
        return True, await anext(stream)
    except StopAsyncIteration:
        return False, None


def _iterate(stream: AsyncGenerator[T, None]) -> Iterator[T]:
    with asyncio.Runner() as runner:
        try:
            while True:
                more, item = runner.run(astep(stream))
                if not more:
                    return
                yield item  # type: ignore[misc]
        finally:
            runner.run(stream.aclose())


@overload
def blocking(method: Callable[Concatenate[S, P], AsyncGenerator[T, None]]) -> Callable[Concatenate[S, P], Iterator[T]]: ...
@overload
def blocking(method: Callable[Concatenate[S, P], Coroutine[Any, Any, T]]) -> Callable[Concatenate[S, P], T]: ...
def blocking(method: Callable[..., Any]) -> Callable[..., Any]:
    """The synchronous twin of an ``a``-prefixed async method (refused inside a running event loop)."""
    name = method.__name__.removeprefix("a")
    owner = method.__qualname__.rpartition(".")[0] or method.__module__
    if inspect.isasyncgenfunction(method):
        def sync(*args: Any, **kwargs: Any) -> Any:
            _outside_loop(owner, name)
            return _iterate(method(*args, **kwargs))
    else:
        def sync(*args: Any, **kwargs: Any) -> Any:
            _outside_loop(owner, name)
            return asyncio.run(method(*args, **kwargs))
    functools.update_wrapper(sync, method)
    sync.__name__, sync.__qualname__ = name, method.__qualname__.replace(method.__name__, name)
    sync.__doc__ = f":meth:`{method.__name__}` for synchronous callers (scripts, threads); not inside an event loop."
    return sync

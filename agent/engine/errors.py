"""The engine's one error type, carrying the root cause of what vLLM raised."""

from __future__ import annotations


class EngineError(RuntimeError):
    """The engine could not start or run; the message names the root cause."""


def root_cause(exc: BaseException) -> BaseException:
    """The innermost cause or context of ``exc``: what vLLM's wrapped errors really were."""
    seen = set()
    while (nxt := exc.__cause__ or exc.__context__) is not None and id(nxt) not in seen:
        seen.add(id(exc))
        exc = nxt
    return exc

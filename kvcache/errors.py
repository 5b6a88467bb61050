"""Errors raised by the KV cache planner and policies.

Two kinds, because callers react differently: a :class:`KVBudgetError` is a
configuration mistake caught before any decoding (fix the settings), while
:class:`KVBudgetExceeded` happens mid-run when a non-evicting cache (full or
quantised) runs out of room, and carries how far the sequence got so the trace
can record why it ended.
"""

from __future__ import annotations


class KVBudgetError(ValueError):
    """A budget that cannot work for this model or policy (too small, too large, malformed)."""


class KVBudgetExceeded(RuntimeError):
    """A cache that cannot evict was asked to hold more than its budget."""

    def __init__(self, policy: str, budget_tokens: int, seen_tokens: int, detail: str = "") -> None:
        self.policy = policy
        self.budget_tokens = budget_tokens
        self.seen_tokens = seen_tokens
        message = (
            f"KV budget exhausted: policy {policy!r} holds at most {budget_tokens} tokens' worth of full-precision KV "
            f"memory and the sequence reached {seen_tokens} tokens"
        )
        super().__init__(f"{message}; {detail}" if detail else message)

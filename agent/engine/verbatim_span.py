"""Token-level verbatim copying (RecaLLM's rule), independent of any engine.

Inside a copied span the only admissible next tokens are those that continue
the span somewhere in the source token ids; the end tokens are always
admissible, and after ``max_span`` tokens only they are. Matches are tracked
incrementally as a set of start positions, so each step costs O(matches), not
O(source length).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Key in ``SamplingParams.extra_args`` carrying a request's copy spec.
EXTRA_KEY = "mnemos_verbatim"
SEPARATOR = -1


def copy_spec(sources: Sequence[Sequence[int]], end_ids: Sequence[int], max_span: int = 128,
              banned_ids: Sequence[int] = ()) -> dict:
    """The per-request payload for :class:`VerbatimSpanTracker`, as plain JSON-able data."""
    flat: list[int] = []
    for ids in sources:
        if flat:
            flat.append(SEPARATOR)
        flat.extend(int(i) for i in ids)
    return {"source_ids": flat, "end_ids": [int(i) for i in end_ids], "max_span": int(max_span),
            "banned_ids": [int(i) for i in banned_ids]}


def read_spec(extra_args: dict[str, Any] | None) -> dict | None:
    """A request's copy spec: a dict in-process, a JSON string when it came over HTTP (``vllm_xargs`` holds
    only scalars and flat lists)."""
    spec = (extra_args or {}).get(EXTRA_KEY)
    if isinstance(spec, str):
        try:
            spec = json.loads(spec)
        except ValueError as exc:
            raise ValueError(f"extra_args[{EXTRA_KEY!r}] is not valid JSON: {exc}") from exc
    return spec


class VerbatimSpanTracker:
    def __init__(self, source_ids: Sequence[int], end_ids: Sequence[int], max_span: int = 128,
                 banned_ids: Sequence[int] = ()):
        if max_span <= 0:
            raise ValueError(f"max_span must be positive, got {max_span}")
        if not end_ids:
            raise ValueError("at least one end token id is needed, or a span could never close")
        self.source = np.asarray(source_ids, dtype=np.int64)
        self.end_ids = sorted({int(i) for i in end_ids})
        self.banned = {int(i) for i in banned_ids} - set(self.end_ids)
        self.max_span = max_span
        self._positions = np.flatnonzero(self.source != SEPARATOR)
        self._seen = 0

    def _advance(self, span: Sequence[int]) -> None:
        while self._seen < len(span):
            tok = int(span[self._seen])
            nxt = self._positions + self._seen
            ok = nxt < len(self.source)
            pos = self._positions[ok]
            self._positions = pos[self.source[nxt[ok]] == tok]
            self._seen += 1

    def allowed(self, span: Sequence[int]) -> list[int]:
        """Token ids admissible after ``span`` (the tokens generated so far in this copy)."""
        if len(span) < self._seen:
            raise ValueError("span shrank: a tracker follows one request's growing output")
        self._advance(span)
        if self._seen >= self.max_span:
            return list(self.end_ids)
        nxt = self._positions + self._seen
        nxt = nxt[nxt < len(self.source)]
        cont = {int(t) for t in np.unique(self.source[nxt])} - {SEPARATOR} - self.banned
        return sorted(cont | set(self.end_ids))

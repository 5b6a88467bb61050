"""Procedural diversity: pick one answer from traces each conditioned on a different subroutine.

Following Reasoning Memory, a successful short trace is trusted more than a
long one (``length``), or answers are counted (``majority``). Verified-correct
branches, when a verifier exists, outrank everything else.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from pydantic import BaseModel

Vote = Literal["length", "majority"]


class Candidate(BaseModel):
    answer: str | None
    ok: bool | None = None
    tokens: int = 1
    subroutine_id: int | None = None


def _key(answer: str) -> str:
    return " ".join(answer.lower().split())


def pick(cands: list[Candidate], rule: Vote = "length") -> int | None:
    """Index of the chosen candidate (the shortest one carrying the winning answer), or None."""
    pool = [i for i, c in enumerate(cands) if c.answer and c.ok] or [
        i for i, c in enumerate(cands) if c.answer and c.ok is not False]
    pool = pool or [i for i, c in enumerate(cands) if c.answer]
    if not pool:
        return None
    weight: dict[str, float] = defaultdict(float)
    for i in pool:
        weight[_key(cands[i].answer or "")] += 1.0 / max(cands[i].tokens, 1) if rule == "length" else 1.0
    best = max(weight, key=lambda k: (weight[k], -min(cands[i].tokens for i in pool if _key(cands[i].answer or "") == k)))
    return min((i for i in pool if _key(cands[i].answer or "") == best), key=lambda i: cands[i].tokens)

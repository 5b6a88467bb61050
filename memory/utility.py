"""What memory earns: running rates kept with the store, and the one rule that demotes, then removes, an entry.

An entry is worth offering only while problems it is used on are solved at least as
often as the arm's own baseline. Both the rule and the rates live here so concepts
and procedures are judged the same way.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from memory.db import insert_ignore
from memory.models import MetaRow

#: Uses after which an entry's solve rate when used is judged against its baseline.
JUDGE_AFTER = 5


def judged(status: str, used: int, solved: int, baseline: float) -> str:
    """The status after a use: below the baseline once judged, ``active`` -> ``demoted`` -> ``removed``.

    An entry used twice the judging count and still below is removed at once.
    """
    if status not in ("active", "demoted") or used < JUDGE_AFTER or solved / used >= baseline:
        return status
    return "removed" if status == "demoted" or used >= 2 * JUDGE_AFTER else "demoted"


def rate_key(rate: str, domain: str) -> str:
    """The meta key of a running rate, e.g. ``family_rate:game24``."""
    return f"{rate}:{domain}"[:64]


def ratio(value: str) -> float:
    """``"solved/tried"`` as a rate (0 before anything was tried)."""
    solved, tried = (int(n) for n in value.split("/"))
    return solved / tried if tried else 0.0


def read_rate(s: Session, key: str) -> float:
    return ratio(s.scalar(select(MetaRow.value).where(MetaRow.key == key)) or "0/0")


def read_counts(s: Session, key: str) -> tuple[int, int]:
    """The hits and tries counted under ``key``."""
    done, tried = (int(n) for n in (s.scalar(select(MetaRow.value).where(MetaRow.key == key)) or "0/0").split("/"))
    return done, tried


def count_rate(s: Session, key: str, hit: bool) -> float:
    """Count one try (a hit or not) under ``key`` inside the caller's write transaction; returns the new rate."""
    insert_ignore(s, MetaRow, {"key": key, "value": "0/0"}, ("key",))
    row = s.get(MetaRow, key, with_for_update=True, populate_existing=True)
    assert row is not None
    done, tried = (int(n) for n in row.value.split("/"))
    row.value = f"{done + int(hit)}/{tried + 1}"
    return ratio(row.value)

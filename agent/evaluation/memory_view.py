"""Every memory entry an evaluation's memory arms could offer, with what each did in the run.

The stores say what an entry is and where it came from (its code, its source
problem, its cross-check, its status); the episodes say what it did on dev: on how
many problems it was offered, used, and used on a problem that was then solved.
Both are read as they are (the stores read-only), so a report never changes a run.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from memory.kinds import KINDS
from memory.schemas import Episode

#: Characters of an entry's code or text kept on the page.
BODY_CHARS = 4000


class Counts(BaseModel):
    offered: int = 0
    used: int = 0
    solved: int = Field(0, description="Problems it was used on that the arm solved; for procedures run in the "
                        "jail, the one whose answer was accepted.")


class MemoryEntry(BaseModel):
    kind: str = Field(description="procedures, concepts or subroutines (a registered memory kind).")
    id: int
    title: str
    body: str = ""
    body_cut: bool = False
    domain: str = ""
    source: str = Field("", description="The problem(s) it was learned from.")
    status: str = "active"
    status_after: dict[str, str] = Field(default_factory=dict, description="Arm -> status in that arm's store "
                                         "where it differs (the learning arm demotes and removes).")
    cross_check: str | None = Field(None, description="Procedures: training problems its code solved, of those tried.")
    origin: str = Field("snapshot", description="'snapshot' (learned on train), else the arm whose store holds it.")
    arms: dict[str, Counts] = Field(default_factory=dict)

    @property
    def paid(self) -> tuple[int, int, int]:
        """What sorts the table: problems solved with it, then used, then offered (over the arms)."""
        return (sum(c.solved for c in self.arms.values()), sum(c.used for c in self.arms.values()),
                sum(c.offered for c in self.arms.values()))


def _rows(db_path: Path, table: str) -> list[dict[str, Any]]:
    if not Path(db_path).is_file():
        return []
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
        return [{k: v for k, v in dict(r).items() if k != "embedding"} for r in rows]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def _listed(value: Any, n: int = 5) -> str:
    items = json.loads(value) if isinstance(value, str) and value.startswith("[") else value
    if not isinstance(items, list):
        return str(value or "")
    more = f" (+{len(items) - n})" if len(items) > n else ""
    return ", ".join(map(str, items[:n])) + more


def _describe(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """The kind-specific columns as title, body, source and cross-check."""
    if kind == "procedures":
        checked = int(row.get("checked") or 0)
        passed = int(row.get("passed") or 0)
        return {"title": f"{row.get('signature') or row.get('name', '')} v{row.get('version', 1)}",
                "body": str(row.get("code", "")), "source": str(row.get("source", "")),
                "cross_check": f"{passed}/{checked} ({100 * passed / checked:.0f}%)" if checked else None}
    if kind == "concepts":
        notes = _listed(row.get("notes"), n=20)
        cues = _listed(row.get("cues"), n=20)
        body = "\n".join(x for x in [str(row.get("description", "")), notes and f"notes: {notes}",
                                     cues and f"cues: {cues}"] if x)
        return {"title": f"{row.get('name', '')} ({row.get('kind', '')})", "body": body,
                "source": _listed(row.get("problems"))}
    if kind == "subroutines":
        return {"title": str(row.get("question", "")), "body": str(row.get("procedure", "")),
                "source": str(row.get("source", ""))}
    return {"title": str(row.get("name") or row.get("id")), "body": json.dumps(row, default=str)[:BODY_CHARS]}


def _ids(episode: Episode, kind: str, role: str) -> set[int]:
    key = f"{kind}_{role}"
    values = getattr(episode, key) if key in Episode.model_fields else episode.trace.get(key)
    return {int(i) for i in values or []}


def _credited(episode: Episode, kind: str, used: set[int]) -> set[int]:
    """The entries a solved problem is credited to: where procedures ran in the jail, only those whose answer
    was accepted (every stored procedure runs, most return nothing); otherwise every entry used."""
    runs = [c for c in episode.trace.get("tool_calls") or [] if c.get("kind") == "apply_procedure"]
    if kind != "procedures" or not runs:
        return used
    return {int(i) for c in runs if c.get("ok") for i in c.get("ids") or []}


def usage(episodes: Iterable[Episode], kind: str) -> dict[int, Counts]:
    """Per entry id: problems it was offered on, used on, and used on and solved (see :func:`_credited`)."""
    out: dict[int, Counts] = {}
    for e in episodes:
        offered, used = _ids(e, kind, "offered"), _ids(e, kind, "used")
        credited = _credited(e, kind, used) if e.score >= 1.0 else set()
        for i in offered | used:
            c = out.setdefault(i, Counts())
            c.offered += i in offered
            c.used += i in used
            c.solved += i in credited
    return out


def memory_entries(stores: dict[str, Path], episodes: dict[str, list[Episode]],
                   snapshot: Path | None = None) -> list[MemoryEntry]:
    """Entries of every registered kind in the arms' stores (``stores``: arm -> memory.db, the read-only arm's
    first), with each arm's counts from ``episodes``, sorted by what they paid. An entry not in the ``snapshot``
    database the arms started from is marked as written by the first arm that holds it."""
    entries: dict[tuple[str, int], MemoryEntry] = {}
    for kind in (k.kind for k in KINDS):
        counts = {arm: usage(episodes.get(arm, []), kind) for arm in stores}
        learned = {int(r["id"]) for r in _rows(snapshot, kind)} if snapshot is not None else None
        for arm, db in stores.items():
            for row in _rows(db, kind):
                key = (kind, int(row["id"]))
                status = str(row.get("status") or "active")
                if key in entries:
                    if status != entries[key].status:
                        entries[key].status_after[arm] = status
                    continue
                info = _describe(kind, row)
                body = info.pop("body")
                entries[key] = MemoryEntry(
                    kind=kind, id=key[1], domain=str(row.get("domain", "")), status=status,
                    origin="snapshot" if learned is not None and key[1] in learned else arm, body=body[:BODY_CHARS],
                    body_cut=len(body) > BODY_CHARS, **info)
        for (k, i), entry in entries.items():
            if k == kind:
                entry.arms = {arm: counts[arm].get(i, Counts()) for arm in stores}
    return sorted(entries.values(), key=lambda e: (tuple(-x for x in e.paid), e.kind, e.id))

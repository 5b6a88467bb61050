"""Episodic memory: one row per attempted problem, with its trace and what memory it was offered."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from memory.db import Database
from memory.models import EpisodeRow, utcnow
from memory.schemas import Episode
from memory.vector_store import MemoryItemNotFound

_FIELDS = [f for f in Episode.model_fields if f not in ("id", "created_at")]


def _to_episode(row: EpisodeRow) -> Episode:
    data = {f: getattr(row, f) for f in _FIELDS}
    return Episode.model_validate({**data, "id": row.id, "created_at": row.created_at})


class EpisodeStore:
    """Append-only; several attempts at one problem in one run are all kept, ``find`` returns the latest."""

    kind = "episodes"

    def __init__(self, db: Database):
        self.db = db

    def add(self, e: Episode) -> Episode:
        return self.add_many([e])[0]

    def add_many(self, es: list[Episode]) -> list[Episode]:
        es = [e if isinstance(e, Episode) else Episode.model_validate(e) for e in es]
        with self.db.write() as s:
            return self.write(s, es)

    def write(self, s: Session, es: list[Episode]) -> list[Episode]:
        """Insert episodes inside the caller's write transaction."""
        rows = []
        for e in es:
            row = EpisodeRow(**e.model_dump(mode="json", include=set(_FIELDS)))
            row.created_at = e.created_at or utcnow()
            s.add(row)
            rows.append(row)
        s.flush()
        return [_to_episode(r) for r in rows]

    def get(self, id: int) -> Episode:
        with self.db.session() as s:
            row = s.get(EpisodeRow, id)
            if row is None:
                raise MemoryItemNotFound(f"no episode with id {id}")
            return _to_episode(row)

    def list(self, run_id: str | None = None, limit: int = 100, offset: int = 0) -> list[Episode]:
        stmt = select(EpisodeRow).order_by(EpisodeRow.id).limit(limit).offset(offset)
        if run_id is not None:
            stmt = stmt.where(EpisodeRow.run_id == run_id)
        with self.db.session() as s:
            return [_to_episode(r) for r in s.scalars(stmt)]

    def find(self, run_id: str, problem_id: str) -> Episode | None:
        stmt = (
            select(EpisodeRow)
            .where(EpisodeRow.run_id == run_id, EpisodeRow.problem_id == problem_id)
            .order_by(EpisodeRow.id.desc())
            .limit(1)
        )
        with self.db.session() as s:
            row = s.scalars(stmt).first()
            return _to_episode(row) if row is not None else None

    def runs(self) -> list[str]:
        with self.db.session() as s:
            stmt = select(EpisodeRow.run_id).group_by(EpisodeRow.run_id).order_by(EpisodeRow.run_id)
            return list(s.scalars(stmt))

    @staticmethod
    def line(item: Episode) -> str:
        """One line of ``mnemos memory list`` for an episode."""
        return f"{item.id:>6}  {item.run_id or '-'}  {item.problem_id}  {item.verdict}  answer={item.answer!r}"

    def count(self, run_id: str | None = None) -> int:
        stmt = select(func.count()).select_from(EpisodeRow)
        if run_id is not None:
            stmt = stmt.where(EpisodeRow.run_id == run_id)
        with self.db.session() as s:
            return int(s.scalar(stmt) or 0)

"""Procedural memory: sub-questions with the short procedures that answer them."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from memory.merge import merge_subroutines
from memory.models import SubroutineRow, text_key, utcnow
from memory.schemas import SearchHit, Subroutine
from memory.vector_store import MemoryItemNotFound, VectorStore


class SubroutineStore(VectorStore[Subroutine]):
    kind = "subroutines"
    row_cls = SubroutineRow
    item_cls = Subroutine

    def _exact_match(self, session: Session, item: Subroutine) -> SubroutineRow | None:
        stmt = select(SubroutineRow).where(
            SubroutineRow.question_key == text_key(item.question), SubroutineRow.domain == item.domain
        )
        return session.scalars(stmt.limit(1)).first()

    def _write(self, row: SubroutineRow, item: Subroutine) -> None:
        super()._write(row, item)
        row.question_key = text_key(item.question)

    def _merge(self, existing: Subroutine, new: Subroutine) -> Subroutine:
        return merge_subroutines(existing, new)

    def add_many(self, cs: list[Subroutine]) -> list[Subroutine]:
        return super().add_many(cs)

    def search(self, text: str, k: int = 8, domain: str | None = None, min_score: float | None = None) -> list[SearchHit]:
        return self._search([text], k, {"domain": domain}, min_score)[0]

    def search_many(
        self, texts: list[str], k: int = 8, domain: str | None = None, min_score: float | None = None
    ) -> list[list[SearchHit]]:
        """Batched :meth:`search` (one embedding call for all queries)."""
        return self._search(texts, k, {"domain": domain}, min_score)

    def record_use(self, ids: list[int], success: bool) -> None:
        """Count one use per id (and a success if the attempt was verified correct)."""
        ids = [int(i) for i in ids]
        if not ids:
            return
        with self.db.session() as s, s.begin():
            found = set(s.scalars(select(SubroutineRow.id).where(SubroutineRow.id.in_(set(ids)))))
            if missing := sorted(set(ids) - found):
                raise MemoryItemNotFound(f"no subroutine with id {missing[0]} (missing: {missing})")
            for i in sorted(set(ids)):
                times = ids.count(i)
                values = {"uses": SubroutineRow.uses + times, "updated_at": utcnow()}
                if success:
                    values["successes"] = SubroutineRow.successes + times
                s.execute(update(SubroutineRow).where(SubroutineRow.id == i).values(values).execution_options(synchronize_session=False))

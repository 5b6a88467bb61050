"""Procedural memory: sub-questions with the short procedures that answer them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from memory.merge import merge_subroutines
from memory.models import SubroutineRow, text_key, utcnow
from memory.schemas import Subroutine
from memory.vector_store import MemoryItemNotFound, VectorStore


class SubroutineStore(VectorStore[Subroutine]):
    kind = "subroutines"
    item_type = "subroutine"
    row_cls = SubroutineRow
    item_cls = Subroutine
    key_columns = ("question_key", "domain")

    def _key(self, item: Subroutine) -> dict[str, Any]:
        return {"question_key": text_key(item.question), "domain": item.domain}

    def _merge(self, existing: Subroutine, new: Subroutine) -> Subroutine:
        return merge_subroutines(existing, new)

    @staticmethod
    def shown(id: int, item: Subroutine) -> str:
        """``S<id>`` is what marks a procedure as used when the model cites it."""
        return f"[S{id}] {item.question}\nProcedure: {item.procedure}"

    @staticmethod
    def line(item: Subroutine) -> str:
        return f"{item.id:>6}  [{item.domain}] {item.question[:80]}  (uses {item.uses}, ok {item.successes})"

    def record_use(self, ids: list[int], success: bool, session: Session | None = None) -> None:
        """Count one use per id (and a success if the attempt was verified correct)."""
        ids = [int(i) for i in ids]
        if not ids:
            return
        with self.db.write_in(session) as s:
            found = set(s.scalars(select(SubroutineRow.id).where(SubroutineRow.id.in_(set(ids)))))
            if missing := sorted(set(ids) - found):
                raise MemoryItemNotFound(f"no subroutine with id {missing[0]} (missing: {missing})")
            for i in sorted(set(ids)):
                times = ids.count(i)
                values = {"uses": SubroutineRow.uses + times, "updated_at": utcnow()}
                if success:
                    values["successes"] = SubroutineRow.successes + times
                s.execute(update(SubroutineRow).where(SubroutineRow.id == i).values(values).execution_options(synchronize_session=False))

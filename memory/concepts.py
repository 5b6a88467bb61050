"""Concept memory: abstract, reusable ideas keyed by name and found by meaning."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from memory.merge import merge_concepts, union
from memory.models import ConceptRow, utcnow
from memory.schemas import Concept, SearchHit
from memory.vector_store import MemoryItemNotFound, VectorStore


class ConceptStore(VectorStore[Concept]):
    kind = "concepts"
    row_cls = ConceptRow
    item_cls = Concept

    def _exact_match(self, session: Session, item: Concept) -> ConceptRow | None:
        return session.scalar(select(ConceptRow).where(ConceptRow.name == item.name))

    def _merge(self, existing: Concept, new: Concept) -> Concept:
        return merge_concepts(existing, new)

    def _merge_scope(self, item: Concept) -> dict[str, str]:
        return {"domain": item.domain, "kind": item.kind}

    def add_many(self, cs: list[Concept]) -> list[Concept]:
        return super().add_many(cs)

    def search(
        self,
        text: str,
        k: int = 8,
        domain: str | None = None,
        kind: str | None = None,
        min_score: float | None = None,
    ) -> list[SearchHit]:
        return self._search([text], k, {"domain": domain, "kind": kind}, min_score)[0]

    def search_many(
        self, texts: list[str], k: int = 8, domain: str | None = None, kind: str | None = None, min_score: float | None = None
    ) -> list[list[SearchHit]]:
        """Batched :meth:`search` (one embedding call for all queries)."""
        return self._search(texts, k, {"domain": domain, "kind": kind}, min_score)

    def names(self) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(select(ConceptRow.name).order_by(ConceptRow.id)))

    def record_outcome(self, ids: list[int], success: bool, problem_id: str | None = None) -> None:
        """Count a success or failure for each concept (atomic increments) and note the problem."""
        ids = sorted({int(i) for i in ids})
        if not ids:
            return
        counter = ConceptRow.successes if success else ConceptRow.failures
        with self.db.session() as s, s.begin():
            rows = list(s.scalars(select(ConceptRow).where(ConceptRow.id.in_(ids))))
            if missing := sorted(set(ids) - {r.id for r in rows}):
                raise MemoryItemNotFound(f"no concept with id {missing[0]} (missing: {missing})")
            s.execute(
                update(ConceptRow)
                .where(ConceptRow.id.in_(ids))
                .values({counter.key: counter + 1, "updated_at": utcnow()})
                .execution_options(synchronize_session=False)
            )
            if problem_id:
                for row in rows:
                    if problem_id not in row.problems:
                        row.problems = union(row.problems, [problem_id])

"""Concept memory: abstract, reusable ideas keyed by name and found by meaning."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from memory.merge import merge_concepts, union
from memory.models import ConceptRow, utcnow
from memory.schemas import Concept, SearchHit
from memory.utility import count_rate, judged, rate_key, read_rate
from memory.vector_store import MemoryItemNotFound, VectorStore


class ConceptStore(VectorStore[Concept]):
    kind = "concepts"
    item_type = "concept"
    row_cls = ConceptRow
    item_cls = Concept
    key_columns = ("name",)

    def _key(self, item: Concept) -> dict[str, Any]:
        return {"name": item.name}

    def _merge(self, existing: Concept, new: Concept) -> Concept:
        return merge_concepts(existing, new)

    def _merge_scope(self, item: Concept) -> dict[str, str]:
        return {"domain": item.domain, "kind": item.kind}

    def search(
        self,
        text: str,
        k: int = 8,
        domain: str | None = None,
        kind: str | None = None,
        min_score: float | None = None,
    ) -> list[SearchHit]:
        return self._search([text], k, {"domain": domain, "kind": kind, "status": "active"}, min_score)[0]

    @staticmethod
    def shown(id: int, item: Concept) -> str:
        lines = [f"- {item.name}: {item.description}".rstrip(": ")]
        if item.cues:
            lines.append(f"  when: {'; '.join(item.cues)}")
        if item.notes:
            lines.append(f"  how: {'; '.join(item.notes)}")
        return "\n".join(lines)

    @staticmethod
    def line(item: Concept) -> str:
        status = "" if item.status == "active" else f" {item.status}"
        trial = (f", trial {item.trial_with}/{item.trial_n} with vs {item.trial_without}/{item.trial_n} without"
                 if item.trial_n is not None else "")
        return (f"{item.id:>6}  [{item.domain}/{item.kind}] {item.name}  (offered {item.offered}, used "
                f"{item.successes + item.failures}, solved {item.successes}{status}{trial})  {item.description[:60]}")

    def names(self) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(select(ConceptRow.name).order_by(ConceptRow.id)))

    def record_offers(self, ids: list[int], session: Session | None = None) -> None:
        """Count one offer (a place on a problem's shortlist) for each concept."""
        ids = sorted({int(i) for i in ids})
        if ids:
            with self.db.write_in(session) as s:
                s.execute(update(ConceptRow).where(ConceptRow.id.in_(ids))
                          .values({"offered": ConceptRow.offered + 1})
                          .execution_options(synchronize_session=False))

    def solve_rate(self, domain: str) -> float:
        """The arm's own solve rate on ``domain``, over every outcome counted with :meth:`count_solve`."""
        with self.db.session() as s:
            return read_rate(s, rate_key("solve_rate", domain))

    def count_solve(self, domain: str, solved: bool, session: Session | None = None) -> float:
        """Count one judged problem of ``domain`` (memory used or not); returns the new rate."""
        with self.db.write_in(session) as s:
            return count_rate(s, rate_key("solve_rate", domain), solved)

    def record_outcome(self, ids: list[int], success: bool, problem_id: str | None = None,
                       baseline: float | None = None, session: Session | None = None) -> None:
        """Count a success or failure for each concept and note the problem, with the rows locked.

        With a ``baseline`` (the arm's solve rate), a concept whose solve rate when used stays below
        it is demoted (no longer offered), then removed.
        """
        ids = sorted({int(i) for i in ids})
        if not ids:
            return
        counter = ConceptRow.successes if success else ConceptRow.failures
        with self.db.write_in(session) as s:
            rows = list(s.scalars(select(ConceptRow).where(ConceptRow.id.in_(ids)).order_by(ConceptRow.id).with_for_update()))
            if missing := sorted(set(ids) - {r.id for r in rows}):
                raise MemoryItemNotFound(f"no concept with id {missing[0]} (missing: {missing})")
            s.execute(
                update(ConceptRow)
                .where(ConceptRow.id.in_(ids))
                .values({counter.key: counter + 1, "updated_at": utcnow()})
                .execution_options(synchronize_session=False)
            )
            for row in rows:
                if problem_id and problem_id not in row.problems:
                    row.problems = union(row.problems, [problem_id])
                if baseline is not None:
                    solved = row.successes + int(success)
                    row.status = judged(row.status, solved + row.failures + int(not success), solved, baseline)

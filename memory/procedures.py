"""Procedures as code: Python functions of a family's inputs, kept with their cross-check and use counts.

A procedure is offered only while its cross-check rate beats the model's own rate on
its family (``baseline``), and it is demoted, then removed, when its solve rate when
used falls below that baseline. A repair is stored as a new version of the same
lineage and the old version is kept (``superseded``), so :meth:`ProcedureStore.undo`
can bring it back.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import faiss
import numpy as np
from sqlalchemy import select, update

from memory.merge import union
from memory.models import ProcedureRow, text_key, utcnow
from memory.schemas import Procedure
from memory.utility import count_rate, judged, rate_key, read_counts, read_rate
from memory.vector_store import MemoryItemNotFound, VectorStore

#: Problem texts kept per procedure for retrieval: enough to cover a family's phrasings, few enough to embed fast.
MAX_EXAMPLES = 8


def best_of(procedures: list[Procedure]) -> Procedure | None:
    """The highest cross-check rate, then the most checked, then the oldest."""
    return max(procedures, key=lambda p: (p.rate, p.checked, -(p.id or 0)), default=None)


class ProcedureStore(VectorStore[Procedure]):
    kind = "procedures"
    item_type = "procedure"
    row_cls = ProcedureRow
    item_cls = Procedure
    key_columns = ("code_key", "domain")

    def _key(self, item: Procedure) -> dict[str, Any]:
        return {"code_key": text_key(item.code), "domain": item.domain}

    def _merge(self, existing: Procedure, new: Procedure) -> Procedure:
        """The same code found again: one procedure, with the evidence of both and the larger cross-check."""
        better = new if new.checked > existing.checked else existing
        return existing.model_copy(update={"evidence": union(existing.evidence, new.evidence),
                                           "examples": union(existing.examples, new.examples)[:MAX_EXAMPLES],
                                           "checked": better.checked, "passed": better.passed,
                                           "answered": better.answered})

    def _similar_row(self, s: Any, item: Procedure, vec: Any, batch_rows: list, batch_vecs: Any) -> Any | None:
        """Never by meaning: two versions of one procedure read alike and must stay two rows."""
        return None

    @staticmethod
    def shown(id: int, item: Procedure) -> str:
        """Signature and docstring only: the model calls it, it does not need to read it."""
        return f"[P{id}] {item.signature}\n    {item.docstring}".rstrip()

    @staticmethod
    def line(item: Procedure) -> str:
        return (f"{item.id:>6}  [{item.domain}] {item.signature} v{item.version} {item.status}  "
                f"check {item.passed}/{item.checked}  offered {item.offered} used {item.used} solved {item.solved}")

    def add(self, item: Procedure) -> Procedure:
        if not item.lineage:
            item = item.model_copy(update={"lineage": uuid.uuid4().hex[:16]})
        return self.add_many([item])[0]

    def active(self, domain: str) -> list[Procedure]:
        """Every active procedure of ``domain`` (one version per lineage), in id order."""
        with self.db.session() as s:
            rows = s.scalars(select(ProcedureRow).where(ProcedureRow.domain == domain, ProcedureRow.status == "active")
                             .order_by(ProcedureRow.id))
            return [self._to_item(r) for r in rows]

    def offerable(self, domain: str, limit: int = 3) -> list[Procedure]:
        """Active procedures of ``domain`` whose cross-check beats their baseline, best first."""
        items = [p for p in self.active(domain) if p.rate > p.baseline]
        return sorted(items, key=lambda p: (-p.rate, -p.solved, p.id or 0))[:limit]

    def retrieve(self, text: str, signature: str, k: int = 3) -> list[tuple[Procedure, float]]:
        """The ``k`` offerable procedures of ``signature`` whose problems read most like ``text``, best first.

        Story to story: every stored example (a problem that wrote or verified a procedure) is one
        vector in an exact FAISS inner-product index, and a procedure scores its best example's
        cosine to ``text``. No family label is read, so one store serves a mixed stream. A
        procedure with no examples stands for itself by its signature and docstring.
        """
        with self.db.session() as s:
            rows = s.scalars(select(ProcedureRow).where(ProcedureRow.signature == signature,
                                                        ProcedureRow.status == "active").order_by(ProcedureRow.id))
            items = [p for p in (self._to_item(r) for r in rows) if p.rate > p.baseline]
        if not items or k < 1:
            return []
        index, owners = self._example_index(items)
        query = np.asarray(self.encoder.encode([text]), dtype=np.float32)
        scores, hits = index.search(query, min(index.ntotal, k * MAX_EXAMPLES * 4))
        best: dict[int, float] = {}
        for score, hit in zip(scores[0], hits[0], strict=True):
            if hit >= 0:
                best[owners[hit]] = max(best.get(owners[hit], -1.0), float(score))
        by_pos = sorted(best, key=lambda i: (-best[i], -items[i].rate, items[i].id or 0))[:k]
        return [(items[i], best[i]) for i in by_pos]

    def _example_index(self, items: list[Procedure]) -> tuple[Any, list[int]]:
        """An exact index over the items' example texts (cached while the offerable set is unchanged)."""
        key = tuple((p.id, len(p.examples), p.updated_at) for p in items)
        with self._examples_lock:
            cached = getattr(self, "_examples_cache", None)
            if cached is not None and cached[0] == key:
                return cached[1], cached[2]
        texts, owners = [], []
        for pos, p in enumerate(items):
            for t in p.examples or [p.embedding_text()]:
                texts.append(t)
                owners.append(pos)
        vecs = np.asarray(self.encoder.encode(texts), dtype=np.float32)
        index = faiss.IndexFlatIP(vecs.shape[1])
        index.add(vecs)
        with self._examples_lock:
            self._examples_cache = (key, index, owners)
        return index, owners

    _examples_lock = threading.Lock()

    def best(self, domain: str) -> Procedure | None:
        """The active procedure of ``domain`` with the highest cross-check rate, offerable or not."""
        return best_of(self.active(domain))

    @staticmethod
    def _locked(s: Any, id: int) -> ProcedureRow:
        """Procedure ``id``'s row, locked for this write transaction."""
        row = s.scalars(select(ProcedureRow).where(ProcedureRow.id == int(id)).with_for_update()).first()
        if row is None:
            raise MemoryItemNotFound(f"no procedure with id {id}")
        return row

    def record(self, id: int, *, offered: int = 0, used: int = 0, solved: int = 0) -> Procedure:
        """Count offers, uses and solves; a procedure whose solve rate when used is below its baseline is demoted,
        and a demoted one that stays below is removed."""
        with self.db.write() as s:
            row = self._locked(s, id)
            row.offered += offered
            row.used += used
            row.solved += solved
            row.status = judged(row.status, row.used, row.solved, row.baseline)
            row.updated_at = utcnow()
            s.flush()
            return self._to_item(row)

    def family_rate(self, domain: str) -> float:
        """The model's own rate on ``domain``: greedy programs that solved their problem, over those asked.

        It is the bar a new procedure's cross-check must beat, so it is kept with the store and
        survives a resumed run, instead of starting again at 0 and admitting weaker programs.
        """
        with self.db.session() as s:
            return read_rate(s, rate_key("family_rate", domain))

    def count_family(self, domain: str, *, solved: bool) -> float:
        """Count one greedy program on ``domain``; returns the new rate."""
        with self.db.write() as s:
            return count_rate(s, rate_key("family_rate", domain), solved)

    def set_check(self, id: int, *, checked: int, passed: int, answered: int) -> Procedure:
        """Record a new cross-check of procedure ``id`` (a re-check on the same check problems)."""
        with self.db.write() as s:
            row = self._locked(s, id)
            row.checked, row.passed, row.answered = checked, passed, answered
            row.updated_at = utcnow()
            s.flush()
            return self._to_item(row)

    def fruitless_rounds(self, domain: str) -> int:
        """Learning rounds on ``domain`` that answered nothing (kept with the store, so a resumed run keeps count)."""
        with self.db.session() as s:
            done, tried = read_counts(s, rate_key("learn_rounds", domain))
            return tried - done

    def count_round(self, domain: str, *, fruitful: bool) -> None:
        """Count one learning round on ``domain``."""
        with self.db.write() as s:
            count_rate(s, rate_key("learn_rounds", domain), fruitful)

    def supersede(self, old_id: int, new: Procedure) -> Procedure:
        """Store ``new`` as the next version of ``old_id``'s lineage and retire the old one (kept, for undo)."""
        old = self.get(old_id)
        stored = self.add(new.model_copy(update={"lineage": old.lineage, "version": old.version + 1,
                                                 "parent_id": old.id, "domain": old.domain}))
        with self.db.write() as s:
            s.execute(update(ProcedureRow).where(ProcedureRow.id == old.id)
                      .values(status="superseded", updated_at=utcnow()))
        return stored

    def undo(self, id: int) -> Procedure:
        """Retire version ``id`` and make its parent active again: a repair that turned out worse is undone."""
        item = self.get(id)
        if item.parent_id is None:
            raise ValueError(f"procedure {id} is a first version; there is nothing to go back to")
        with self.db.write() as s:
            s.execute(update(ProcedureRow).where(ProcedureRow.id == item.id).values(status="removed",
                                                                                   updated_at=utcnow()))
            s.execute(update(ProcedureRow).where(ProcedureRow.id == item.parent_id).values(status="active",
                                                                                          updated_at=utcnow()))
        return self.get(item.parent_id)

    def versions(self, lineage: str) -> list[Procedure]:
        with self.db.session() as s:
            rows = s.scalars(select(ProcedureRow).where(ProcedureRow.lineage == lineage).order_by(ProcedureRow.version))
            return [self._to_item(r) for r in rows]

"""The shared machinery of the embedded stores (concepts, subroutines): SQL rows plus a FAISS index.

Write path: embed outside any lock, then one SQL transaction that merges or inserts
every item (embedding stored in the row), commit, and only then add the new ids to
the in-memory index. A crash after the commit leaves rows the index file does not
cover; on the next open ``reconcile`` adds them from their stored embeddings, and
because FAISS ids are the primary keys a replay can never create a twin.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from memory.db import Database, describe_db_error, insert_ignore, is_retryable
from memory.index_upkeep import (
    build_from_sql,
    open_index,
    reembed_stale_rows,
    stack_vectors,
)
from memory.models import utcnow
from memory.schemas import SearchHit
from retrieval.embedder import TextEncoder
from retrieval.index import IndexConfig, VectorIndex

log = logging.getLogger("memory.store")

ItemT = TypeVar("ItemT", bound=BaseModel)

#: Fields of the exchange models that the store manages itself.
_MANAGED = {"id", "created_at", "updated_at"}
_CHUNK = 5000
_ATTEMPTS = 5


class MemoryItemNotFound(KeyError):
    """An id that names no stored item."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "item not found"


@dataclass
class Written(Generic[ItemT]):
    """What one write transaction stored, and the new rows the index still has to learn about."""

    items: list[ItemT]
    new_ids: np.ndarray
    new_vectors: np.ndarray


class VectorStore(Generic[ItemT]):
    """Base for a memory kind with embeddings; subclasses name the row/model and the merge rule."""

    kind: ClassVar[str]
    """Plural name: the ``stats`` key, the index file's stem, log prefix."""
    item_type: ClassVar[str]
    """Singular name: the ``type`` of an exported line and the ``--kind`` of ``mnemos memory``."""
    row_cls: ClassVar[type]
    """The SQL table (a row class in :mod:`memory.models`)."""
    item_cls: ClassVar[type[BaseModel]]

    def __init__(
        self,
        db: Database,
        encoder: TextEncoder,
        index_path: Path,
        index_config: IndexConfig | None = None,
        merge_threshold: float | None = 0.92,
        save_every: int = 10_000,
        exact_filter_limit: int = 20_000,
    ):
        self.db = db
        self.encoder = encoder
        self.index_path = Path(index_path)
        self.index_config = index_config or IndexConfig()
        self.merge_threshold = merge_threshold
        self.save_every = save_every
        self.exact_filter_limit = exact_filter_limit
        self.write_lock = threading.RLock()
        self.index = open_index(self)

    # ----- hooks --------------------------------------------------------------------------
    #: Columns of the unique key: an item whose key exists merges into that row, even under concurrency.
    key_columns: ClassVar[tuple[str, ...]]

    def _key(self, item: ItemT) -> dict[str, Any]:
        """The values of :attr:`key_columns` for ``item``."""
        raise NotImplementedError

    def _merge(self, existing: ItemT, new: ItemT) -> ItemT:
        raise NotImplementedError

    def _merge_scope(self, item: ItemT) -> dict[str, str]:
        """Columns a similar row must share with ``item`` to be merged into."""
        return {"domain": item.domain}

    @staticmethod
    def shown(id: int, item: Any) -> str:
        """How the item reads to the model when it is offered (``id`` is how the model can cite it)."""
        raise NotImplementedError

    @staticmethod
    def line(item: Any) -> str:
        """One line of ``mnemos memory list/search`` for ``item``."""
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        return {"count": self.count(), "indexed": self.index.count, "index": self.index.layout,
                "index_file": str(self.index_path), "domains": self.domains()}

    # ----- row <-> model ------------------------------------------------------------------
    def _fields(self) -> list[str]:
        return [f for f in self.item_cls.model_fields if f not in _MANAGED]

    def _to_item(self, row: Any) -> ItemT:
        data = {f: getattr(row, f) for f in self._fields()}
        data.update(id=row.id, created_at=row.created_at, updated_at=row.updated_at)
        return self.item_cls.model_validate(data)

    def _write(self, row: Any, item: ItemT) -> None:
        for name, value in {**self._values(item), **self._key(item)}.items():
            setattr(row, name, value)

    # ----- reads --------------------------------------------------------------------------
    def get(self, id: int) -> ItemT:
        with self.db.session() as s:
            row = s.get(self.row_cls, id)
            if row is None:
                raise MemoryItemNotFound(f"no {self.kind[:-1]} with id {id}")
            return self._to_item(row)

    def list(self, limit: int = 50, offset: int = 0, domain: str | None = None) -> list[ItemT]:
        stmt = select(self.row_cls).order_by(self.row_cls.id).limit(limit).offset(offset)
        if domain is not None:
            stmt = stmt.where(self.row_cls.domain == domain)
        with self.db.session() as s:
            return [self._to_item(r) for r in s.scalars(stmt)]

    def count(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(self.row_cls)) or 0)

    def domains(self) -> dict[str, int]:
        with self.db.session() as s:
            rows = s.execute(select(self.row_cls.domain, func.count()).group_by(self.row_cls.domain))
            return {d: int(n) for d, n in rows}

    # ----- writes -------------------------------------------------------------------------
    def add(self, item: ItemT) -> ItemT:
        return self.add_many([item])[0]

    def add_many(self, items: Sequence[ItemT]) -> list[ItemT]:
        """Store items, merging each into an existing twin (same key or embedding >= threshold)."""
        items = self.validate(items)
        if not items:
            return []
        vectors = self.embed(items)
        with self.write_lock:
            for attempt in range(_ATTEMPTS):
                try:
                    with self.db.write() as s:
                        written = self.write(s, items, vectors)
                    break
                except DBAPIError as exc:
                    if attempt == _ATTEMPTS - 1 or not (is_retryable(exc) or isinstance(exc, IntegrityError)):
                        raise
                    log.info("%s: write collided with another writer (%s); retrying", self.kind, describe_db_error(exc))
            self.index_written(written)
        return written.items

    def validate(self, items: Sequence[ItemT | dict[str, Any]]) -> list[ItemT]:
        return [i if isinstance(i, self.item_cls) else self.item_cls.model_validate(i) for i in items]  # type: ignore[misc]

    def embed(self, items: Sequence[ItemT]) -> np.ndarray:
        """Embed outside any transaction: it is the slow part, and needs no lock."""
        return self.encoder.encode([i.embedding_text() for i in items])  # type: ignore[attr-defined]

    def write(self, s: Session, items: Sequence[ItemT], vectors: np.ndarray) -> Written[ItemT]:
        """Merge or insert every item inside the caller's write transaction (see :meth:`Database.write`).

        The twin an item merges into is locked (FOR UPDATE) before it is read, and new
        rows go in with insert-or-ignore on the unique key, so a concurrent writer of the
        same key makes this one merge into its row instead of adding a duplicate.
        The ids of new rows reach the index only via :meth:`index_written`, after commit.
        """
        fingerprint = self.encoder.fingerprint
        touched: list[Any] = []
        new_rows: list[Any] = []
        new_vecs = np.empty((len(items), self.encoder.dim), dtype=np.float32)
        for item, vec in zip(items, vectors, strict=True):
            key = self._key(item)
            row = self._locked_twin(s, key)
            if row is None:
                row = self._similar_row(s, item, vec, new_rows, new_vecs[: len(new_rows)])
            now = utcnow()
            if row is None:
                created = item.created_at or now  # type: ignore[attr-defined]
                values = {
                    **self._values(item),
                    **key,
                    "embedding": vec.astype(np.float32).tobytes(),
                    "embedder": fingerprint,
                    "created_at": created,
                    "updated_at": item.updated_at or created,  # type: ignore[attr-defined]
                }
                new_id = insert_ignore(s, self.row_cls, values, self.key_columns)
                if new_id is not None:
                    row = s.get(self.row_cls, new_id)
                    new_vecs[len(new_rows)] = vec
                    new_rows.append(row)
                    touched.append(row)
                    continue
                row = self._locked_twin(s, key)  # another writer inserted the key first: merge into it
                if row is None:
                    raise RuntimeError(f"{self.kind}: insert of {key} conflicted but no row holds that key")
            self._write(row, self._merge(self._to_item(row), item))
            row.updated_at = now
            touched.append(row)
        s.flush()
        return Written(
            items=[self._to_item(r) for r in touched],
            new_ids=np.asarray([r.id for r in new_rows], dtype=np.int64),
            new_vectors=new_vecs[: len(new_rows)],
        )

    def index_written(self, written: Written[ItemT]) -> None:
        """Add committed new rows to the in-memory index (call with :attr:`write_lock` held)."""
        self._index_add(written.new_ids, written.new_vectors)

    def _locked_twin(self, s: Session, key: dict[str, Any]) -> Any | None:
        return s.scalars(select(self.row_cls).filter_by(**key).with_for_update()).first()

    def _values(self, item: ItemT) -> dict[str, Any]:
        return item.model_dump(mode="json", include=set(self._fields()))

    def _similar_row(self, s: Session, item: ItemT, vec: np.ndarray, batch_rows: list, batch_vecs: np.ndarray) -> Any | None:
        """The most similar in-scope row at or above the merge threshold (locked), if any."""
        if self.merge_threshold is None:
            return None
        scope = self._merge_scope(item)
        best, best_score = None, self.merge_threshold
        if len(batch_rows):
            scores = batch_vecs @ vec
            for j in np.flatnonzero(scores >= best_score):
                row = batch_rows[j]
                if scores[j] >= best_score and all(getattr(row, c) == v for c, v in scope.items()):
                    best, best_score = row, float(scores[j])
        result = self.index.search(vec, 8)[0]
        if len(result.ids) and result.scores.max() >= best_score - 0.05:
            rows = select(self.row_cls).where(self.row_cls.id.in_(result.ids.tolist())).order_by(self.row_cls.id)
            for row in s.scalars(rows.with_for_update()):
                if row.embedding is None or not all(getattr(row, c) == v for c, v in scope.items()):
                    continue
                score = float(np.frombuffer(row.embedding, dtype=np.float32) @ vec)
                if score >= best_score:
                    best, best_score = row, score
        return best

    # ----- search -------------------------------------------------------------------------
    def search(self, text: str, k: int = 8, domain: str | None = None, min_score: float | None = None,
               **filters: str | None) -> list[SearchHit]:
        """The ``k`` items nearest to ``text``, optionally within a domain and other filter columns."""
        return self._search([text], k, {"domain": domain, **filters}, min_score)[0]

    def _search(
        self, texts: list[str], k: int, filters: dict[str, str], min_score: float | None
    ) -> list[list[SearchHit]]:
        if k <= 0 or not texts:
            return [[] for _ in texts]
        queries = self.encoder.encode(list(texts))
        return self.search_vectors(queries, k, filters, min_score)

    def search_vectors(
        self, queries: np.ndarray, k: int = 8, filters: dict[str, str] | None = None, min_score: float | None = None
    ) -> list[list[SearchHit]]:
        """Top-k hits per query vector, rescored exactly against the stored embeddings."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        filters = {c: v for c, v in (filters or {}).items() if v is not None}
        fetch = max(2 * k, k + 8)
        with self.write_lock:
            if filters:
                allowed = self._ids_where(filters)
                if self.index.layout != "flat" and len(allowed) <= self.exact_filter_limit:
                    candidates = self._exact_candidates(queries, allowed, fetch)
                else:
                    candidates = [r.ids for r in self.index.search(queries, fetch, allow=allowed)]
            else:
                candidates = [r.ids for r in self.index.search(queries, fetch)]
        wanted = sorted({int(i) for ids in candidates for i in ids})
        rows = self._rows_by_id(wanted)
        out: list[list[SearchHit]] = []
        for query, ids in zip(queries, candidates, strict=True):
            hits = []
            for i in ids:
                row = rows.get(int(i))
                if row is None or row.embedding is None:
                    continue
                if any(getattr(row, c) != v for c, v in filters.items()):
                    continue
                score = float(np.frombuffer(row.embedding, dtype=np.float32) @ query)
                if min_score is not None and score < min_score:
                    continue
                hits.append(SearchHit(id=row.id, score=score, item=self._to_item(row)))
            hits.sort(key=lambda h: -h.score)
            out.append(hits[:k])
        return out

    def _ids_where(self, filters: dict[str, str]) -> np.ndarray:
        stmt = select(self.row_cls.id)
        for column, value in filters.items():
            if not hasattr(self.row_cls, column):
                raise ValueError(f"{self.kind} cannot be filtered by {column!r}")
            stmt = stmt.where(getattr(self.row_cls, column) == value)
        with self.db.session() as s:
            return np.fromiter(s.scalars(stmt), dtype=np.int64)

    def _exact_candidates(self, queries: np.ndarray, allowed: np.ndarray, fetch: int) -> list[np.ndarray]:
        """Brute force over a filtered subset: exact, and cheaper than probing IVF lists that may not hold it."""
        ids, vecs = self._vectors_for(allowed)
        if not len(ids):
            return [np.zeros(0, np.int64) for _ in queries]
        scores = queries @ vecs.T
        top = np.argsort(-scores, axis=1)[:, :fetch]
        return [ids[t] for t in top]

    def _rows_by_id(self, ids: list[int]) -> dict[int, Any]:
        out: dict[int, Any] = {}
        with self.db.session() as s:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                out.update({r.id: r for r in s.scalars(select(self.row_cls).where(self.row_cls.id.in_(chunk)))})
        return out

    # ----- index maintenance -------------------------------------------------------------
    def _vectors_for(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        got_ids: list[int] = []
        vecs: list[bytes] = []
        cols = (self.row_cls.id, self.row_cls.embedding)
        with self.db.session() as s:
            for start in range(0, len(ids), _CHUNK):
                chunk = [int(i) for i in ids[start : start + _CHUNK]]
                for i, emb in s.execute(select(*cols).where(self.row_cls.id.in_(chunk), self.row_cls.embedding.is_not(None))):
                    got_ids.append(i)
                    vecs.append(emb)
        return stack_vectors(got_ids, vecs, self.encoder.dim)

    def _all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        got_ids: list[int] = []
        vecs: list[bytes] = []
        stmt = select(self.row_cls.id, self.row_cls.embedding).where(self.row_cls.embedding.is_not(None))
        with self.db.session() as s:
            for i, emb in s.execute(stmt.order_by(self.row_cls.id).execution_options(yield_per=_CHUNK)):
                got_ids.append(i)
                vecs.append(emb)
        return stack_vectors(got_ids, vecs, self.encoder.dim)

    def _sql_ids(self) -> np.ndarray:
        with self.db.session() as s:
            return np.fromiter(s.scalars(select(self.row_cls.id)), dtype=np.int64)

    def _index_add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        if len(ids):
            self.index.add(ids, vecs.reshape(len(ids), self.encoder.dim))
        if reason := self.index.wants_rebuild():
            log.info("%s index rebuilt from SQL: %s", self.kind, reason)
            self.index = build_from_sql(self)
            return
        if self.index.dirty and (self.index.count < self.index_config.flat_threshold or self.index.dirty >= self.save_every):
            self.index.save(self.index_path)

    def rebuild_index(self) -> VectorIndex:
        with self.write_lock:
            reembed_stale_rows(self)
            self.index = build_from_sql(self)
            log.info("%s index rebuilt: %d vectors, %s", self.kind, self.index.count, self.index.layout)
            return self.index

    def flush(self) -> None:
        with self.write_lock:
            if self.index.dirty:
                self.index.save(self.index_path)

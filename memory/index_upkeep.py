"""Keeping a memory kind's FAISS index true to its SQL rows: open, re-embed, rebuild and reconcile.

SQL is the source of truth; the index is derived data that may be missing,
corrupt, from another embedder or behind the table, and is repaired on open.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from sqlalchemy import select

from memory.db import Database
from retrieval.embedder import TextEncoder
from retrieval.index import (
    IndexConfig,
    IndexCorrupt,
    IndexMissing,
    IndexStale,
    VectorIndex,
)
from retrieval.reconcile import reconcile

log = logging.getLogger("memory.store")


class IndexedKind(Protocol):
    """What keeping an index true needs of a memory kind's store (:class:`memory.vector_store.VectorStore`)."""

    kind: ClassVar[str]
    row_cls: ClassVar[type]
    db: Database
    encoder: TextEncoder
    index_path: Path
    index_config: IndexConfig

    def count(self) -> int: ...

    def _to_item(self, row: Any) -> Any: ...

    def _sql_ids(self) -> np.ndarray: ...

    def _vectors_for(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    def _all_vectors(self) -> tuple[np.ndarray, np.ndarray]: ...


def reembed_stale_rows(store: IndexedKind) -> int:
    """Embed rows that have no embedding or one from another model (SQL writes, model swap)."""
    fingerprint = store.encoder.fingerprint
    stale = (store.row_cls.embedding.is_(None)) | (store.row_cls.embedder.is_(None)) | (store.row_cls.embedder != fingerprint)
    with store.db.session() as s:
        if s.scalar(select(store.row_cls.id).where(stale).limit(1)) is None:
            return 0  # the common case, and the only one a read-only database can serve
    done = 0
    while True:
        with store.db.write() as s:
            rows = list(s.scalars(select(store.row_cls).where(stale).order_by(store.row_cls.id).limit(1024).with_for_update()))
            if not rows:
                return done
            vecs = store.encoder.encode([store._to_item(r).embedding_text() for r in rows])
            for row, vec in zip(rows, vecs, strict=True):
                row.embedding = vec.astype(np.float32).tobytes()
                row.embedder = fingerprint
            done += len(rows)
        log.warning("%s: embedded %d rows that had no current embedding", store.kind, done)

def build_from_sql(store: IndexedKind) -> VectorIndex:
    ids, vecs = store._all_vectors()
    index = VectorIndex.build(
        ids, vecs, store.encoder.dim, store.index_config, owner=store.db.store_id, fingerprint=store.encoder.fingerprint
    )
    index.save(store.index_path)
    return index

def open_index(store: IndexedKind) -> VectorIndex:
    """The kind's index, checked against SQL: rebuilt when missing, unusable or stale, reconciled otherwise."""
    reembedded = reembed_stale_rows(store)
    try:
        index = VectorIndex.load(
            store.index_path,
            store.encoder.dim,
            owner=store.db.store_id,
            fingerprint=store.encoder.fingerprint,
            config=store.index_config,
        )
    except IndexMissing:
        if store.count():
            log.warning("%s index missing at %s; rebuilding from SQL", store.kind, store.index_path)
        return build_from_sql(store)
    except (IndexCorrupt, IndexStale) as exc:
        log.warning("%s index unusable (%s); rebuilding from SQL", store.kind, exc)
        return build_from_sql(store)
    if reembedded:
        log.warning("%s index rebuilt because %d rows were re-embedded", store.kind, reembedded)
        return build_from_sql(store)
    result = reconcile(index, store._sql_ids(), store._vectors_for)
    if result.changed:
        log.warning(
            "%s index was stale: added %d missing ids, dropped %d unknown ids (reconciled with SQL)",
            store.kind,
            result.added,
            result.removed,
        )
    if reason := index.wants_rebuild():
        log.warning("%s index rebuilt from SQL: %s", store.kind, reason)
        return build_from_sql(store)
    if index.dirty:
        index.save(store.index_path)
    return index


def stack_vectors(ids: list[int], blobs: list[bytes], dim: int) -> tuple[np.ndarray, np.ndarray]:
    if not ids:
        return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
    vecs = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), dim)
    return np.asarray(ids, dtype=np.int64), vecs

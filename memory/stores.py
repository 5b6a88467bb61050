"""Opening every registered memory kind and the episodes together on one database and one index directory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Self

from sqlalchemy.orm import Session

from memory.concepts import ConceptStore
from memory.db import Database, StoreMissing, StoreUnavailable
from memory.episodes import EpisodeStore
from memory.kinds import KINDS
from memory.procedures import ProcedureStore
from memory.subroutines import SubroutineStore
from memory.vector_store import VectorStore
from retrieval.embedder import Embedder, TextEncoder
from retrieval.index import IndexConfig

log = logging.getLogger("memory.store")


class MemoryStores:
    """Every registered memory kind and the episodes, sharing one database; closing saves the indexes.

    This is the one memory object: the controller reads ``concepts``/``subroutines`` (the
    :class:`memory.protocol.Memory` protocol), runners write ``episodes``. An evaluation arm
    without memory of its own gets one with no kinds over the main database's episodes.
    """

    def __init__(self, db: Database, kinds: Mapping[str, VectorStore[Any]], episodes: EpisodeStore):
        self.db = db
        self.kinds: dict[str, VectorStore[Any]] = dict(kinds)
        self.episodes = episodes
        self._closed = False

    @property
    def concepts(self) -> ConceptStore:
        return self.kinds["concepts"]  # type: ignore[return-value]

    @property
    def subroutines(self) -> SubroutineStore:
        return self.kinds["subroutines"]  # type: ignore[return-value]

    @property
    def procedures(self) -> ProcedureStore | None:
        """None for an arm's memory without kinds (the episodes-only view)."""
        return self.kinds.get("procedures")  # type: ignore[return-value]

    def transaction(self) -> AbstractContextManager[Session]:
        """One write transaction: store updates passed its session commit or roll back together."""
        return self.db.write()

    def by_item_type(self) -> dict[str, VectorStore[Any] | EpisodeStore]:
        """Store per exported ``type`` name (``concept``, ``subroutine``, ..., ``episode``)."""
        return {**{s.item_type: s for s in self.kinds.values()}, "episode": self.episodes}

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"database": self.db.engine.url.render_as_string(hide_password=True), "store_id": self.db.store_id}
        for store in self.kinds.values():
            out[store.kind] = store.stats()
        out["episodes"] = {"count": self.episodes.count(), "runs": len(self.episodes.runs())}
        return out

    def rebuild_index(self) -> None:
        for store in self.kinds.values():
            store.rebuild_index()

    def close(self) -> None:
        """Flush every index and dispose of the database."""
        if self._closed:
            return
        self._closed = True
        try:
            for store in self.kinds.values():
                store.flush()
        finally:
            self.db.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_memory(
    url: str,
    index_dir: Path,
    embedder: TextEncoder | None = None,
    *,
    merge_threshold: float | None = 0.92,
    index_config: IndexConfig | None = None,
) -> MemoryStores:
    """Open (migrating and, where needed, rebuilding indexes) the memory stores at ``url``.

    A SQLite file that is missing or empty while ``index_dir`` holds index files is
    refused with :class:`StoreMissing` rather than silently replaced by a new store.

    ``embedder`` defaults to the embedded all-MiniLM-L6-v2, loaded on first use.
    ``merge_threshold`` is the cosine similarity at which a new item merges into an
    existing one (None disables similarity merging; same-name concepts still merge).
    """
    index_dir = Path(index_dir)
    if index_dir.exists() and not index_dir.is_dir():
        raise StoreUnavailable(f"index directory {index_dir} is a file, not a directory")
    index_files = sorted(p.name for p in index_dir.glob("*.index")) if index_dir.is_dir() else []
    try:
        db = Database(url, must_exist=bool(index_files))
    except StoreMissing as exc:
        raise StoreMissing(
            f"{exc}, but {index_dir} holds the index files of an existing store ({', '.join(index_files)}): "
            f"the database was deleted or replaced. Restore it, or remove {index_dir} to start an empty store"
        ) from None
    try:
        encoder = embedder if embedder is not None else Embedder()
        index_dir.mkdir(parents=True, exist_ok=True)
        common = {"index_config": index_config, "merge_threshold": merge_threshold}
        kinds = {cls.kind: cls(db, encoder, index_dir / f"{cls.kind}.index", **common) for cls in KINDS}
    except BaseException:
        db.dispose()
        raise
    return MemoryStores(db, kinds, EpisodeStore(db))

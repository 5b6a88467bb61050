"""Opening the three memory stores together on one database and one index directory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Self

from memory.concepts import ConceptStore
from memory.db import Database, StoreMissing, StoreUnavailable
from memory.episodes import EpisodeStore
from memory.subroutines import SubroutineStore
from retrieval.embedder import Embedder, TextEncoder
from retrieval.index import IndexConfig

log = logging.getLogger("memory.store")


class MemoryStores:
    """Concepts, subroutines and episodes sharing one database; closing saves the indexes."""

    def __init__(self, db: Database, concepts: ConceptStore, subroutines: SubroutineStore, episodes: EpisodeStore):
        self.db = db
        self.concepts = concepts
        self.subroutines = subroutines
        self.episodes = episodes
        self._closed = False

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"database": self.db.engine.url.render_as_string(hide_password=True), "store_id": self.db.store_id}
        for store in (self.concepts, self.subroutines):
            out[store.kind] = {
                "count": store.count(),
                "indexed": store.index.count,
                "index": store.index.layout,
                "index_file": str(store.index_path),
                "domains": store.domains(),
            }
        out["episodes"] = {"count": self.episodes.count(), "runs": len(self.episodes.runs())}
        return out

    def rebuild_index(self) -> None:
        self.concepts.rebuild_index()
        self.subroutines.rebuild_index()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.concepts.flush()
            self.subroutines.flush()
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
        concepts = ConceptStore(db, encoder, index_dir / "concepts.index", **common)
        subroutines = SubroutineStore(db, encoder, index_dir / "subroutines.index", **common)
    except BaseException:
        db.dispose()
        raise
    return MemoryStores(db, concepts, subroutines, EpisodeStore(db))

"""Named, reproducible copies of a memory store, and the stores each evaluation arm works on.

A snapshot is what ``frozen`` is measured with, so it must not drift: it is a
consistent copy of the SQLite database (SQLite's backup API, safe while WAL
files exist) plus the FAISS index files, with a manifest of row counts and
hashes. Arms never open the snapshot itself; they work on a copy whose content
hash is compared with the manifest afterwards, which is how ``frozen`` proves it
read without writing and ``learning`` reports what it wrote.

Episodes are not part of an arm's store: the runner writes them to the main
database, so ``mnemos report`` and ``mnemos trace show`` see every arm.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from agent.config import Settings
    from memory.episodes import EpisodeStore
    from memory.stores import MemoryStores

MANIFEST = "manifest.json"
ORIGIN = "origin.json"
DB_FILE = "memory.db"
INDEX_DIR = "indexes"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
#: Tables that are bookkeeping, not memory content.
_NOT_CONTENT = {"alembic_version", "episodes", "checkpoints", "writes"}


class SnapshotManifest(BaseModel):
    name: str
    created_at: float
    source: dict[str, Any] = Field(default_factory=dict, description="What produced it (eval, train run, model).")
    counts: dict[str, int] = Field(description="Rows per memory table.")
    content_sha256: str = Field(description="Hash of every memory row: equal hashes, equal memory.")
    files: dict[str, str] = Field(description="Relative path -> sha256 of each file in the snapshot.")


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"bad snapshot name {name!r}: use letters, digits, '.', '_' and '-' (max 121 chars)")
    return name


def snapshot_root(home: Path) -> Path:
    return Path(home) / "snapshots"


def snapshot_exists(home: Path, name: str) -> bool:
    """Whether snapshot ``name`` was saved whole: its manifest is written last."""
    return (snapshot_root(home) / name / MANIFEST).is_file()


def store_paths(store_dir: Path) -> tuple[str, Path]:
    """The SQLAlchemy URL and index directory of a store kept in ``store_dir``."""
    return f"sqlite:///{Path(store_dir) / DB_FILE}", Path(store_dir) / INDEX_DIR


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def memory_content(db_path: Path, immutable: bool = False) -> tuple[dict[str, int], str]:
    """Row counts per memory table and one hash over all their rows (read-only, ordered by rowid).

    ``immutable`` reads the main file alone and creates nothing beside it (no -wal/-shm), for a snapshot.
    """
    if not Path(db_path).is_file():
        raise FileNotFoundError(f"memory database not found: {db_path}")
    conn = sqlite3.connect(f"file:{db_path}?{'immutable=1' if immutable else 'mode=ro'}", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                             "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        counts: dict[str, int] = {}
        h = hashlib.sha256()
        for table in tables:
            if table in _NOT_CONTENT:
                continue
            rows = conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()
            counts[table] = len(rows)
            h.update(table.encode() + b"\0")
            for row in rows:
                h.update(json.dumps(row, default=lambda v: v.hex() if isinstance(v, bytes) else str(v)).encode())
        return counts, h.hexdigest()
    finally:
        conn.close()


def _backup(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(str(dst))
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal/-shm beside it
    finally:
        target.close()
        source.close()


def copy_store(src_dir: Path, dst_dir: Path) -> None:
    """Copy a store (database + index files) so the copy is consistent even if the source has WAL files."""
    src_dir, dst_dir = Path(src_dir), Path(dst_dir)
    _backup(src_dir / DB_FILE, dst_dir / DB_FILE)
    (dst_dir / INDEX_DIR).mkdir(parents=True, exist_ok=True)
    if (src_dir / INDEX_DIR).is_dir():
        for f in sorted((src_dir / INDEX_DIR).iterdir()):
            if f.is_file() and not f.name.endswith(".tmp"):
                shutil.copyfile(f, dst_dir / INDEX_DIR / f.name)
                (dst_dir / INDEX_DIR / f.name).chmod(0o644)
    (dst_dir / DB_FILE).chmod(0o644)


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): _sha256(p) for p in sorted(root.rglob("*")) if p.is_file() and p.name != MANIFEST}


def create_snapshot(store_dir: Path, home: Path, name: str, source: dict[str, Any] | None = None) -> SnapshotManifest:
    """Copy the store in ``store_dir`` to ``<home>/snapshots/<name>/`` and write its manifest.

    The files are made read-only; an existing snapshot of that name is never overwritten.
    """
    dest = snapshot_root(home) / check_name(name)
    if snapshot_exists(home, check_name(name)):
        raise FileExistsError(f"snapshot {name!r} already exists at {dest}; choose another name")
    if dest.exists():
        shutil.rmtree(dest)  # a half-written snapshot from an interrupted run
    tmp = dest.with_name(f".{name}.{time.time_ns()}.tmp")
    copy_store(store_dir, tmp)
    counts, digest = memory_content(tmp / DB_FILE)
    manifest = SnapshotManifest(name=name, created_at=time.time(), source=source or {}, counts=counts,
                                content_sha256=digest, files=_files(tmp))
    (tmp / MANIFEST).write_text(manifest.model_dump_json(indent=2))
    for p in tmp.rglob("*"):
        if p.is_file():
            p.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    tmp.rename(dest)
    return manifest


def load_snapshot(home: Path, name: str) -> SnapshotManifest:
    """The manifest of snapshot ``name`` after checking every file still has its recorded hash."""
    root = snapshot_root(home) / check_name(name)
    path = root / MANIFEST
    if not path.is_file():
        known = sorted(p.name for p in snapshot_root(home).glob("*") if snapshot_exists(home, p.name))
        hint = f"; known: {', '.join(known)}" if known else ""
        raise FileNotFoundError(f"no snapshot named {name!r} in {snapshot_root(home)}{hint}")
    manifest = SnapshotManifest.model_validate_json(path.read_text())
    actual = _files(root)
    if actual != manifest.files and not _same_rows(root, manifest, actual):
        changed = sorted(set(actual.items()) ^ set(manifest.files.items()))
        raise RuntimeError(f"snapshot {name!r} was modified after it was taken ({changed[0][0]} differs); "
                           "take a new snapshot")
    return manifest


def _same_rows(root: Path, manifest: SnapshotManifest, actual: dict[str, str]) -> bool:
    """Whether only the database's bytes changed and not its rows: opening a SQLite file with a writer
    (an older ``mnemos memory --store``) rewrites its header and journal mode, not what it holds."""
    differs = {k for k in set(actual) | set(manifest.files) if actual.get(k) != manifest.files.get(k)}
    wal = root / f"{DB_FILE}-wal"
    return DB_FILE in differs and differs <= {DB_FILE, wal.name, f"{DB_FILE}-shm"} \
        and (not wal.is_file() or wal.stat().st_size == 0) \
        and memory_content(root / DB_FILE, immutable=True)[1] == manifest.content_sha256


def working_copy(home: Path, name: str, dest: Path) -> SnapshotManifest:
    """Materialise snapshot ``name`` as a writable store in ``dest``.

    An existing copy is kept, so a resumed arm goes on with the memory it had, but only if
    it was made from this very snapshot; otherwise the arm's earlier problems were solved
    with other memory and its results could not be continued.
    """
    manifest = load_snapshot(home, name)
    dest = Path(dest)
    origin = {"snapshot": manifest.name, "content_sha256": manifest.content_sha256}
    if (dest / DB_FILE).is_file():
        found = json.loads((dest / ORIGIN).read_text()) if (dest / ORIGIN).is_file() else {}
        if found != origin:
            raise ValueError(f"{dest} was copied from snapshot {found.get('snapshot', '?')!r}, not {name!r}; "
                             "an arm cannot switch memory midway: use another --name")
        return manifest
    copy_store(snapshot_root(home) / name, dest)
    (dest / ORIGIN).write_text(json.dumps(origin))
    return manifest


def arm_memory(store_dir: Path, episodes: EpisodeStore, encoder: Any, settings: Settings) -> MemoryStores:
    """An arm's memory: every kind from the arm's own store, episodes in the main database.

    The controller reads and (when learning) writes the kinds; the batch runner writes
    ``episodes``. Closing flushes the indexes and closes the arm's database only.
    """
    from agent.memory_access import open_memory

    url, index_dir = store_paths(store_dir)
    stores = open_memory(settings, db_url=url, index_dir=index_dir, encoder=encoder)
    stores.episodes = episodes
    return stores


def stored_procedures(db_path: Path) -> list[dict[str, Any]]:
    """The procedures of a memory database (read-only): id, family, status, cross-check and use counts, code."""
    if not Path(db_path).is_file():
        return []
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        have = {r["name"] for r in conn.execute("PRAGMA table_info(procedures)")}
        cols = ", ".join(c for c in ("id", "domain", "status", "version", "passed", "checked", "answered", "baseline",
                                     "offered", "used", "solved", "source", "code") if c in have)
        return [dict(r) for r in conn.execute(f"SELECT {cols} FROM procedures ORDER BY id")]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()

"""One file that carries an evaluation to another machine, so a run can span machines that keep nothing.

An evaluation's state is spread over the data directory: its split and setup in
``runs/NAME/``, each arm's working store beside them, the training snapshot in
``snapshots/``, and the episodes of every arm in the main database. ``save``
packs all of it into a ``.tar.gz``; ``load`` puts back what the local data
directory lacks and never overwrites what it has, so loading twice, or loading
an older archive, changes nothing already there. Rerunning the evaluation then
resumes where the archive stopped.

Saving is safe while the evaluation runs (stores are copied with SQLite's backup
API); problems in flight are simply absent from the archive and solved again.
"""

from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from agent.evaluation.snapshot import (
    DB_FILE,
    MANIFEST,
    ORIGIN,
    SnapshotManifest,
    check_name,
    copy_store,
    load_snapshot,
    snapshot_exists,
    snapshot_root,
)

if TYPE_CHECKING:
    from agent.config import Settings

ARCHIVE_MANIFEST = "archive.json"
EPISODES_FILE = "episodes.jsonl"
FORMAT = 1


class ArchiveManifest(BaseModel):
    format: int = FORMAT
    name: str = Field(description="The evaluation's name (its runs/NAME directory and NAME-* run ids).")
    created_at: float
    episodes: dict[str, int] = Field(description="Run id -> episodes in the archive.")
    stores: list[str] = Field(description="Working stores under runs/NAME/.")
    snapshots: list[str] = Field(description="Snapshots the stores were copied from.")


class LoadResult(BaseModel):
    manifest: ArchiveManifest
    episodes_added: int
    episodes_kept: int
    restored: list[str] = Field(description="Paths under the data directory written from the archive.")
    kept: list[str] = Field(description="Paths already there, left as they were.")


def _snapshots(name: str, eval_dir: Path, home: Path) -> list[str]:
    names = {f"{name}-train"} if snapshot_exists(home, f"{name}-train") else set()
    for origin in eval_dir.glob(f"*/{ORIGIN}"):
        names.add(json.loads(origin.read_text())["snapshot"])
    return sorted(names)


def save_archive(settings: Settings, name: str, dest: Path) -> ArchiveManifest:
    """Write evaluation ``name`` (split, setup, stores, snapshots, episodes) to ``dest`` atomically."""
    from memory.db import Database
    from memory.episodes import EpisodeStore

    eval_dir = settings.runs_dir / check_name(name)
    if not eval_dir.is_dir():
        raise FileNotFoundError(f"no evaluation named {name!r} in {settings.runs_dir}")
    snaps = _snapshots(name, eval_dir, settings.home)
    for snap in snaps:
        load_snapshot(settings.home, snap)
    db = Database(settings.db_url)
    try:
        store = EpisodeStore(db)
        runs = [r for r in store.runs() if r.startswith(f"{name}-")]
        episodes = {r: store.list(run_id=r, limit=1_000_000) for r in runs}
    finally:
        db.dispose()
    dest = Path(dest)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_root = root / "runs" / name
        run_root.mkdir(parents=True)
        stores = []
        for entry in sorted(eval_dir.iterdir()):
            if entry.is_file():
                shutil.copyfile(entry, run_root / entry.name)
            elif (entry / DB_FILE).is_file():
                copy_store(entry, run_root / entry.name)
                if (entry / ORIGIN).is_file():
                    shutil.copyfile(entry / ORIGIN, run_root / entry.name / ORIGIN)
                stores.append(entry.name)
        for snap in snaps:
            shutil.copytree(snapshot_root(settings.home) / snap, root / "snapshots" / snap)
        lines = [e.model_dump_json(exclude={"id"}) for r in runs for e in episodes[r]]
        (root / EPISODES_FILE).write_text("".join(line + "\n" for line in lines))
        manifest = ArchiveManifest(name=name, created_at=time.time(), stores=stores, snapshots=snaps,
                                   episodes={r: len(episodes[r]) for r in runs})
        (root / ARCHIVE_MANIFEST).write_text(manifest.model_dump_json(indent=2))
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.{time.time_ns()}.tmp")
        with tarfile.open(partial, "w:gz") as tar:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
        partial.replace(dest)
    return manifest


def _read_manifest(tar: tarfile.TarFile, src: Path) -> ArchiveManifest:
    try:
        member = tar.extractfile(ARCHIVE_MANIFEST)
    except KeyError:
        member = None
    if member is None:
        raise ValueError(f"{src} is not an evaluation archive (no {ARCHIVE_MANIFEST})")
    manifest = ArchiveManifest.model_validate_json(member.read())
    if manifest.format != FORMAT:
        raise ValueError(f"{src} has archive format {manifest.format}; this mnemos reads format {FORMAT}")
    check_name(manifest.name)
    return manifest


def load_archive(settings: Settings, src: Path) -> LoadResult:
    """Restore what the data directory lacks from archive ``src``; existing files and episodes win."""
    from memory.db import Database
    from memory.episodes import EpisodeStore
    from memory.schemas import Episode

    src = Path(src)
    with tarfile.open(src, "r:gz") as tar, tempfile.TemporaryDirectory() as tmp:
        manifest = _read_manifest(tar, src)
        tar.extractall(tmp, filter="data")
        root = Path(tmp)
        restored: list[str] = []
        kept: list[str] = []
        for snap in manifest.snapshots:
            ours = snapshot_root(settings.home) / check_name(snap)
            theirs = SnapshotManifest.model_validate_json((root / "snapshots" / snap / MANIFEST).read_text())
            if snapshot_exists(settings.home, check_name(snap)):
                if load_snapshot(settings.home, snap).content_sha256 != theirs.content_sha256:
                    raise ValueError(f"snapshot {snap!r} here holds other memory than the archive's; "
                                     "load the archive into another --home")
                kept.append(f"snapshots/{snap}")
                continue
            shutil.copytree(root / "snapshots" / snap, ours)
            load_snapshot(settings.home, snap)
            restored.append(f"snapshots/{snap}")
        eval_dir = settings.runs_dir / manifest.name
        eval_dir.mkdir(parents=True, exist_ok=True)
        for entry in sorted((root / "runs" / manifest.name).iterdir()):
            rel = f"runs/{manifest.name}/{entry.name}"
            if (eval_dir / entry.name).exists():
                kept.append(rel)
            elif entry.is_dir():
                shutil.copytree(entry, eval_dir / entry.name)
                restored.append(rel)
            else:
                shutil.copyfile(entry, eval_dir / entry.name)
                restored.append(rel)
        incoming = [Episode.model_validate_json(line)
                    for line in (root / EPISODES_FILE).read_text().splitlines() if line.strip()]
    db = Database(settings.db_url)
    try:
        store = EpisodeStore(db)
        fresh = [e for e in incoming if store.find(e.run_id, e.problem_id) is None]
        store.add_many(fresh)
    finally:
        db.dispose()
    return LoadResult(manifest=manifest, episodes_added=len(fresh), episodes_kept=len(incoming) - len(fresh),
                      restored=restored, kept=kept)

"""Snapshots: a consistent, hashed, read-only copy of a store; arms work on copies of it."""

from __future__ import annotations

import pytest

from agent.config import Settings

from agent.evaluation.snapshot import (
    arm_memory,
    create_snapshot,
    load_snapshot,
    memory_content,
    snapshot_root,
    working_copy,
)
from memory.kinds import KINDS
from memory.schemas import Concept, Subroutine
from tests.controller.conftest import HashEncoder


def _store(path, n_concepts=2):
    mem = arm_memory(path, episodes=None, encoder=HashEncoder(), settings=Settings(home=path.parent / "home"))
    mem.concepts.add_many([Concept(name=f"concept number {i}", description=f"does thing {i}")
                           for i in range(n_concepts)])
    mem.subroutines.add_many([Subroutine(question="how to add two numbers", procedure="sum them")])
    return mem


def test_snapshot_copies_counts_and_hashes_the_store(tmp_path):
    mem = _store(tmp_path / "store")  # left open: a live store with WAL files must still copy consistently
    try:
        manifest = create_snapshot(tmp_path / "store", tmp_path / "home", "s1", {"eval": "e"})
    finally:
        mem.close()
    root = snapshot_root(tmp_path / "home") / "s1"
    assert manifest.counts["concepts"] == 2 and manifest.counts["subroutines"] == 1
    assert manifest.source == {"eval": "e"}
    assert set(manifest.files) == {"memory.db", *(f"indexes/{k.kind}.index" for k in KINDS)}
    assert memory_content(root / "memory.db") == (manifest.counts, manifest.content_sha256)
    assert not (root / "memory.db").stat().st_mode & 0o222
    assert load_snapshot(tmp_path / "home", "s1") == manifest
    with pytest.raises(FileExistsError, match="already exists"):
        create_snapshot(tmp_path / "store", tmp_path / "home", "s1")


def test_working_copy_reads_the_snapshot_and_changes_show_in_the_hash(tmp_path):
    _store(tmp_path / "store").close()
    manifest = create_snapshot(tmp_path / "store", tmp_path / "home", "s1")
    working_copy(tmp_path / "home", "s1", tmp_path / "arm")
    mem = arm_memory(tmp_path / "arm", episodes=None, encoder=HashEncoder(), settings=Settings(home=tmp_path / "home"))
    try:
        hits = mem.subroutines.search("add two numbers", 1)
        assert hits and hits[0].item.procedure == "sum them"
    finally:
        mem.close()
    assert memory_content(tmp_path / "arm" / "memory.db")[1] == manifest.content_sha256  # reading changed nothing
    mem = arm_memory(tmp_path / "arm", episodes=None, encoder=HashEncoder(), settings=Settings(home=tmp_path / "home"))
    mem.concepts.add(Concept(name="a brand new idea", description="learned on dev"))
    mem.close()
    counts, digest = memory_content(tmp_path / "arm" / "memory.db")
    assert digest != manifest.content_sha256 and counts["concepts"] == 3
    assert load_snapshot(tmp_path / "home", "s1").content_sha256 == manifest.content_sha256  # snapshot untouched


def test_tampered_or_missing_snapshots_are_refused(tmp_path):
    _store(tmp_path / "store").close()
    create_snapshot(tmp_path / "store", tmp_path / "home", "s1")
    index = snapshot_root(tmp_path / "home") / "s1" / "indexes" / "concepts.index"
    index.chmod(0o644)
    index.write_bytes(index.read_bytes() + b"x")
    with pytest.raises(RuntimeError, match="modified after it was taken"):
        load_snapshot(tmp_path / "home", "s1")
    with pytest.raises(FileNotFoundError, match="no snapshot named 'other'.*known: s1"):
        load_snapshot(tmp_path / "home", "other")
    with pytest.raises(ValueError, match="bad snapshot name"):
        load_snapshot(tmp_path / "home", "../escape")


def test_an_arm_store_cannot_switch_snapshots(tmp_path):
    _store(tmp_path / "store").close()
    create_snapshot(tmp_path / "store", tmp_path / "home", "s1")
    _store(tmp_path / "store2", n_concepts=3).close()
    create_snapshot(tmp_path / "store2", tmp_path / "home", "s2")
    first = working_copy(tmp_path / "home", "s1", tmp_path / "arm")
    assert working_copy(tmp_path / "home", "s1", tmp_path / "arm") == first  # resume: same copy kept
    with pytest.raises(ValueError, match="copied from snapshot 's1', not 's2'"):
        working_copy(tmp_path / "home", "s2", tmp_path / "arm")


def test_a_snapshot_opened_by_a_writer_keeps_its_rows_and_loads_but_a_changed_row_is_refused(tmp_path):
    import sqlite3

    _store(tmp_path / "store").close()
    manifest = create_snapshot(tmp_path / "store", tmp_path / "home", "s1")
    db = snapshot_root(tmp_path / "home") / "s1" / "memory.db"
    db.chmod(0o644)
    with sqlite3.connect(db) as conn:  # what opening it with a writer does: new header, WAL, no new rows
        conn.execute("PRAGMA journal_mode=WAL")
    assert load_snapshot(tmp_path / "home", "s1") == manifest
    assert not (db.parent / "memory.db-wal").exists()  # checking it left nothing beside it
    sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("SELECT 1 FROM concepts").fetchall()  # leaves -wal/-shm
    assert load_snapshot(tmp_path / "home", "s1") == manifest
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE concepts SET description = 'changed' WHERE rowid = 1")
    with pytest.raises(RuntimeError, match="memory.db differs"):
        load_snapshot(tmp_path / "home", "s1")


def test_memory_commands_read_a_snapshot_without_writing_it_and_refuse_to_change_it(tmp_path, capsys):
    from agent.cli import main

    _store(tmp_path / "store").close()
    create_snapshot(tmp_path / "store", tmp_path / "home", "s1")
    root = snapshot_root(tmp_path / "home") / "s1"
    before = {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    home = ["--home", str(tmp_path / "home")]
    assert main([*home, "memory", "list", "--kind", "concept", "--store", str(root)]) == 0
    assert "concept number 1" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert main([*home, "memory", "rebuild-index", "--store", str(root)]) != 0
    assert "snapshots are read-only" in capsys.readouterr().err

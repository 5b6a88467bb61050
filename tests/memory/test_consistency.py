"""SQL is the source of truth: lost, corrupt, stale or half-written indexes heal on open."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, insert

from memory import StoreMissing, StoreUnavailable, Subroutine, open_memory
from memory.models import SubroutineRow, utcnow

WRITER = Path(__file__).with_name("writer.py")
REPO = Path(__file__).resolve().parents[2]


def fill(db_url, index_dir, embedder, n=12):
    with open_memory(db_url, index_dir, embedder, merge_threshold=None) as m:
        return m.subroutines.add_many(
            [Subroutine(question=f"How do I solve puzzle type {i} with {w}?", procedure=f"step {i}") for i, w in enumerate(["grids", "sums", "graphs", "strings"] * 3)][:n]
        )


def assert_consistent(m):
    sql_ids = sorted(s.id for s in m.subroutines.list(limit=100_000))
    assert list(m.subroutines.index.ids) == sql_ids
    assert m.subroutines.index.index.ntotal == len(sql_ids)


def test_deleted_index_file_is_rebuilt_with_a_log_line(db_url, index_dir, embedder, caplog):
    items = fill(db_url, index_dir, embedder)
    (index_dir / "subroutines.index").unlink()
    with caplog.at_level(logging.WARNING, logger="memory.store"):
        m = open_memory(db_url, index_dir, embedder)
    with m:
        assert "subroutines index missing" in caplog.text and "rebuilding from SQL" in caplog.text
        assert_consistent(m)
        assert m.subroutines.search(items[5].question, k=1)[0].id == items[5].id


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_corrupt_index_file_is_rebuilt(db_url, index_dir, embedder, caplog, damage):
    items = fill(db_url, index_dir, embedder)
    path = index_dir / "subroutines.index"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x55
    elif damage == "truncate":
        data = data[: len(data) - 100]
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="memory.store"):
        m = open_memory(db_url, index_dir, embedder)
    with m:
        assert "subroutines index unusable" in caplog.text
        assert_consistent(m)
        assert m.subroutines.search(items[2].question, k=1)[0].id == items[2].id


def test_stale_index_is_reconciled_with_sql(db_url, index_dir, embedder, caplog):
    items = fill(db_url, index_dir, embedder)
    with open_memory(db_url, index_dir, embedder) as m:
        with m.db.session() as s, s.begin():
            s.execute(delete(SubroutineRow).where(SubroutineRow.id.in_([items[0].id, items[1].id])))
            now = utcnow()
            s.execute(
                insert(SubroutineRow).values(
                    question="How do I convert Celsius to Fahrenheit?", procedure="F = C*9/5+32", domain="general",
                    source="", uses=0, successes=0, created_at=now, updated_at=now,
                )
            )
    with caplog.at_level(logging.WARNING, logger="memory.store"):
        m = open_memory(db_url, index_dir, embedder)
    with m:
        assert "embedded 1 rows" in caplog.text
        assert_consistent(m)
        assert m.subroutines.index.count == len(items) - 1
        assert m.subroutines.search("temperature in fahrenheit", k=1)[0].item.procedure == "F = C*9/5+32"


def test_index_of_another_database_is_not_trusted(tmp_path, index_dir, embedder, caplog):
    fill(f"sqlite:///{tmp_path / 'a.db'}", index_dir, embedder, n=4)
    fill(f"sqlite:///{tmp_path / 'b.db'}", tmp_path / "b-indexes", embedder, n=2)
    with caplog.at_level(logging.WARNING, logger="memory.store"):
        with open_memory(f"sqlite:///{tmp_path / 'b.db'}", index_dir, embedder) as m:
            assert m.subroutines.index.count == 2
    assert "another database" in caplog.text


@pytest.mark.parametrize("damage", ["delete", "empty"])
def test_database_gone_while_its_indexes_remain_is_refused(tmp_path, index_dir, embedder, damage):
    db = tmp_path / "mnemos.db"
    fill(f"sqlite:///{db}", index_dir, embedder, n=4)
    for path in tmp_path.glob("mnemos.db*"):
        path.unlink()
    if damage == "empty":
        db.write_bytes(b"")
    before = {p.name: p.read_bytes() for p in index_dir.iterdir()}
    with pytest.raises(StoreMissing, match=f"database file {db} is {'missing' if damage == 'delete' else 'empty'}.*index files"):
        open_memory(f"sqlite:///{db}", index_dir, embedder)
    assert {p.name: p.read_bytes() for p in index_dir.iterdir()} == before, "index files must be left alone"
    assert db.exists() == (damage == "empty"), "no new database is created in its place"


def test_truncated_database_is_a_clear_error(tmp_path, index_dir, embedder):
    db = tmp_path / "mnemos.db"
    fill(f"sqlite:///{db}", index_dir, embedder, n=4)
    db.write_bytes(db.read_bytes()[:1000])
    for path in tmp_path.glob("mnemos.db-*"):
        path.unlink()
    with pytest.raises(StoreUnavailable, match="cannot open database .*mnemos.db: .*(not a database|malformed)"):
        open_memory(f"sqlite:///{db}", index_dir, embedder)


def _spawn(db_url: str, index_dir: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(WRITER), db_url, str(index_dir), mode],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_kill_between_sql_commit_and_index_write_loses_nothing(db_url, index_dir, embedder, caplog):
    proc = _spawn(db_url, index_dir, "kill-after-commit")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, out
    assert out.split() == ["0", "1"]
    with caplog.at_level(logging.WARNING, logger="memory.store"):
        m = open_memory(db_url, index_dir, embedder, merge_threshold=None)
    with m:
        assert m.subroutines.count() == 30
        assert "added 10 missing ids" in caplog.text
        assert_consistent(m)
        hit = m.subroutines.search("batch 2 step 7: how to reduce 7/4", k=1)[0]
        assert hit.item.question == "batch 2 step 7: how to reduce 7/4"


def test_kill_inside_a_batch_transaction_leaves_no_part_of_it(db_url, index_dir, embedder):
    proc = _spawn(db_url, index_dir, "kill-mid-batch")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, out
    assert out.split() == ["0", "1", "2", "3"]
    with open_memory(db_url, index_dir, embedder, merge_threshold=None) as m:
        assert m.subroutines.count() == 40, "the fifth batch must commit fully or not at all"
        assert_consistent(m)
        questions = [s.question for s in m.subroutines.list(limit=100_000)]
        assert len(questions) == len(set(questions))
        assert not list(index_dir.glob("*.tmp"))
        vecs = m.subroutines.index.index.index.reconstruct_n(0, m.subroutines.index.count)
        assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)


def test_open_removes_a_dead_writers_temp_index_but_not_a_live_ones(db_url, index_dir, embedder):
    fill(db_url, index_dir, embedder, n=2)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    dead_tmp = index_dir / f"subroutines.index.{dead}.tmp"
    live_tmp = index_dir / f"subroutines.index.{os.getppid()}.tmp"
    for tmp in (dead_tmp, live_tmp):
        tmp.write_bytes(b"half-written")
    with open_memory(db_url, index_dir, embedder) as m:
        assert_consistent(m)
    assert not dead_tmp.exists() and live_tmp.exists()

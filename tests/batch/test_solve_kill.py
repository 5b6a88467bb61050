"""Interrupting a running `mnemos solve`: after SIGKILL mid-solve and mid-learn, a rerun with the same --run-id
finishes every problem exactly once (no lost episodes, no duplicates, memory holding each problem's writes once);
Ctrl-C exits promptly keeping finished work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from memory.db import Database, StoreUnavailable
from memory.episodes import EpisodeStore
from tools.tasks.mathgen import generate

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
N = 6
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _cmd(home: Path, log: Path, run_id: str, park: str) -> list[str]:
    return [sys.executable, str(HERE / "solve_kill_target.py"), str(home), str(log), run_id, str(N), park]


def _calls(log: Path) -> list[tuple[str, str]]:
    return [tuple(line.split(" ", 1)) for line in log.read_text().splitlines() if line]  # type: ignore[misc]


@contextmanager
def _parked_run(home: Path, log: Path, run_id: str, park: str) -> Iterator[tuple[subprocess.Popen, Database]]:
    """Start a run and yield once its two parked steps are waiting and every other problem has its episode.

    The run is killed on the way out if the test has not ended it, so no parked process outlives the test.
    """
    proc = subprocess.Popen(_cmd(home, log, run_id, park), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    db = None
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "the run never reached the interrupt point"
            if db is None and (home / "mnemos.db").exists():
                try:
                    db = Database(f"sqlite:///{home / 'mnemos.db'}")
                except StoreUnavailable:  # the run is still creating it
                    pass
            parked = [c for c in _calls(log) if c[0] == "parked"] if log.exists() else []
            if len(parked) == 2 and db is not None and EpisodeStore(db).count(run_id) == N - 2:
                break
            time.sleep(0.1)
        yield proc, db
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if db is not None:
            db.dispose()


def test_sigkill_then_resume_finishes_every_problem_exactly_once(tmp_path, embedder):
    from sqlalchemy import select

    from memory import open_memory
    from memory.models import ConceptRow

    home, log = tmp_path / "home", tmp_path / "calls.log"
    ids = [p.id for p in generate(N, seed=7)]
    # Problem 4 never gets its answer; problem 5 is stuck between writing its concept and its subroutines.
    with _parked_run(home, log, "killed", "think:4,subwrite:5") as (proc, db):
        proc.kill()
        proc.wait()
        assert {e.problem_id for e in EpisodeStore(db).list(run_id="killed")} == set(ids[:4])
        assert ("concept", ids[5]) in _calls(log)  # problem 5 really was killed mid-learn: its concept was written
        with db.sessions() as session:  # ...and not stored: math has no held problems to try it on
            assert session.scalars(select(ConceptRow.name)).all() == []

    log.write_text("")
    rerun = subprocess.run(_cmd(home, log, "killed", "-"), env=ENV, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    calls = _calls(log)
    assert {pid for kind, pid in calls if kind == "think"} == {ids[4]}  # finished problems were not solved again
    assert {pid for kind, pid in calls if kind == "decompose"} == {ids[4], ids[5]}  # 5 resumed at its learn step
    assert {pid for kind, pid in calls if kind == "concept"} == {ids[4], ids[5]}  # ...and wrote its concept again

    summary = json.loads((home / "runs" / "killed" / "summary.json").read_text())
    assert (summary["resumed"], summary["finished"], summary["solved"]) == (N - 2, N, N)
    with open_memory(f"sqlite:///{home / 'mnemos.db'}", home / "indexes", embedder) as mem:
        eps = mem.episodes.list(run_id="killed")
        assert sorted(e.problem_id for e in eps) == sorted(ids) and all(e.verdict == "correct" for e in eps)
        assert mem.concepts.list(limit=100) == []  # written every time, never stored: math has no held problems
        subs = mem.subroutines.list(limit=100)
        assert sorted(s.source for s in subs) == sorted(f"killed:{pid}" for pid in ids)


def test_ctrl_c_returns_promptly_keeping_finished_work(tmp_path):
    """SIGINT while problems are in flight: exit code 130, finished episodes kept, the rerun completes the rest."""
    home, log = tmp_path / "home", tmp_path / "calls.log"
    with _parked_run(home, log, "ctrlc", "think:4,think:5") as (proc, _db):
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err[-3000:]
        assert time.monotonic() - t0 < 30
        assert "interrupted; rerun with --run-id ctrlc" in err and f"{N - 2}/{N}" in out
    rerun = subprocess.run(_cmd(home, log, "ctrlc", "-"), env=ENV, capture_output=True, text=True, timeout=300, check=False)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    summary = json.loads((home / "runs" / "ctrlc" / "summary.json").read_text())
    assert (summary["resumed"], summary["finished"], summary["solved"]) == (N - 2, N, N)

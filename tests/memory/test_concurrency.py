"""Two processes writing the same keys at once: no duplicate rows and no lost merges (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from memory import open_memory

sys.path.insert(0, str(Path(__file__).parent))
from standins import ConstantEncoder

WRITER = Path(__file__).with_name("race_writer.py")
REPO = Path(__file__).resolve().parents[2]
ROUNDS = 500


def test_two_writers_of_identical_and_merging_items(db_url, index_dir):
    encoder = ConstantEncoder()
    with open_memory(db_url, index_dir, encoder):
        pass  # migrate once, so the race is about the writes
    procs = [
        subprocess.Popen([sys.executable, str(WRITER), db_url, str(index_dir), tag, str(ROUNDS)], cwd=REPO,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0 and out.strip() == "done", err[-3000:]

    with open_memory(db_url, index_dir, encoder, merge_threshold=None) as m:
        subs = m.subroutines.list(limit=10 * ROUNDS)
        assert len(subs) == ROUNDS, "identical questions must collapse into one row each"
        assert len({s.question for s in subs}) == ROUNDS
        assert sorted({s.uses for s in subs}) == [2], "every merge of the second writer must be kept"
        concepts = m.concepts.list()
        assert [c.name for c in concepts] == ["shared concept"]
        assert concepts[0].successes == 2 * ROUNDS
        assert sorted(concepts[0].problems) == sorted(f"{t}-{i}" for t in "ab" for i in range(ROUNDS))
        assert list(m.subroutines.index.ids) == sorted(s.id for s in subs)


def test_processes_opening_a_new_store_together_all_succeed(db_url, index_dir):
    opener = ("import sys; sys.path.insert(0, sys.argv[3]); from standins import ConstantEncoder; from memory import open_memory; "
              "open_memory(sys.argv[1], sys.argv[2], ConstantEncoder()).close(); print('opened')")
    procs = [subprocess.Popen([sys.executable, "-c", opener, db_url, str(index_dir), str(Path(__file__).parent)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and out.strip() == "opened", err[-3000:]
    with open_memory(db_url, index_dir, ConstantEncoder()) as m:
        assert m.db.store_id and m.concepts.count() == 0

"""`memory import` is one transaction (a killed import leaves nothing) and idempotent by content hash."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from memory import Concept, Episode, Subroutine, open_memory
from memory.transfer import import_jsonl

sys.path.insert(0, str(Path(__file__).parent))
from standins import ConstantEncoder

WRITER = Path(__file__).with_name("import_writer.py")
REPO = Path(__file__).resolve().parents[2]


def _write_file(path: Path, concepts: int = 100, subroutines: int = 100, episodes: int = 3000) -> Path:
    lines = [{"type": "concept", "name": f"concept {i}", "successes": 1, "problems": [f"p{i}"]} for i in range(concepts)]
    lines += [{"type": "subroutine", "question": f"How is part {i} done?", "procedure": f"step {i}", "uses": 2} for i in range(subroutines)]
    lines += [{"type": "episode", "run_id": "imported", "problem_id": f"e{i}", "input": f"problem {i}"} for i in range(episodes)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _snapshot(m) -> dict:
    return {
        "concepts": [(c.name, c.successes, c.problems) for c in m.concepts.list(limit=100_000)],
        "subroutines": [(s.question, s.uses, s.successes) for s in m.subroutines.list(limit=100_000)],
        "episodes": [(e.run_id, e.problem_id) for e in m.episodes.list(limit=100_000)],
        "indexed": (m.concepts.index.count, m.subroutines.index.count),
    }


@pytest.mark.parametrize("mode", ["mid-subroutines", "before-commit"])
def test_import_killed_midway_leaves_nothing_and_can_be_redone(db_url, index_dir, tmp_path, mode):
    source = _write_file(tmp_path / "mem.jsonl")
    encoder = ConstantEncoder()
    with open_memory(db_url, index_dir, encoder, merge_threshold=None) as m:
        m.concepts.add(Concept(name="concept 0", successes=5))
        before = _snapshot(m)
    proc = subprocess.run([sys.executable, str(WRITER), db_url, str(index_dir), str(source), mode], cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert proc.stdout.split() == ["importing"]
    with open_memory(db_url, index_dir, encoder, merge_threshold=None) as m:
        assert _snapshot(m) == before, "a killed import must leave no item and no merge behind"
        result = import_jsonl(m, source)
        assert not result.already_imported, "a killed import must not count as done"
        assert result.counts == {"concept": 100, "subroutine": 100, "episode": 3000}
        assert m.concepts.count() == 100 and m.subroutines.count() == 100 and m.episodes.count() == 3000
        assert m.concepts.list(limit=1)[0].successes == 6


def test_second_import_of_the_same_content_changes_nothing(stores, tmp_path):
    stores.subroutines.add(Subroutine(question="How do I double a number?", procedure="add it to itself", uses=1))
    lines = [
        {"type": "concept", "name": "doubling", "description": "twice as much", "successes": 2},
        {"type": "subroutine", "question": "How do I double a number?", "procedure": "times two", "uses": 3},
        {"type": "episode", "run_id": "r", "problem_id": "p1", "input": "double 4", "answer": "8"},
    ]
    first = tmp_path / "a.jsonl"
    first.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = import_jsonl(stores, first)
    assert result.counts == {"concept": 1, "subroutine": 1, "episode": 1} and not result.already_imported
    after_first = _snapshot(stores)
    assert after_first["subroutines"] == [("How do I double a number?", 4, 0)]

    again = import_jsonl(stores, first)
    assert again.already_imported and again.counts == {} and again.content_hash == result.content_hash
    assert again.imported_at is not None
    same_content = tmp_path / "b.jsonl"
    same_content.write_text("\n\n".join(json.dumps(dict(reversed(list(line.items())))) for line in reversed(lines)))
    assert import_jsonl(stores, same_content).already_imported, "the hash is over content, not bytes or line order"
    assert _snapshot(stores) == after_first

    changed = tmp_path / "c.jsonl"
    changed.write_text(json.dumps({**lines[0], "successes": 3}) + "\n")
    assert import_jsonl(stores, changed).counts == {"concept": 1}
    assert stores.concepts.list()[0].successes == 5


def test_import_rolls_back_when_a_write_fails(stores, tmp_path, monkeypatch):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"type": "concept", "name": "c"}) + "\n"
                    + json.dumps({"type": "episode", "problem_id": "p", "input": "x"}) + "\n")

    def fail(s, episodes):
        raise RuntimeError("disk full")

    monkeypatch.setattr(stores.episodes, "write", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        import_jsonl(stores, path)
    assert stores.concepts.count() == 0 and stores.concepts.index.count == 0
    monkeypatch.undo()
    assert import_jsonl(stores, path).counts == {"concept": 1, "episode": 1}
    assert stores.episodes.count() == 1


def test_episode_lines_keep_their_fields(stores, tmp_path):
    episode = Episode(run_id="r", problem_id="p", input="2+2", answer="4", verdict="correct", score=1.0)
    path = tmp_path / "e.jsonl"
    path.write_text(json.dumps({"type": "episode", **episode.model_dump(mode="json", exclude={"id", "created_at"})}) + "\n")
    import_jsonl(stores, path)
    got = stores.episodes.list()[0]
    assert (got.answer, got.verdict, got.score) == ("4", "correct", 1.0)

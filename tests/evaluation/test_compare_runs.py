"""benchmarks/compare_runs.py: two runs of the same problems, compared problem by problem."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from benchmarks.compare_runs import main


def _db(path: Path, rows: list[tuple[str, str, float, str | None, int]]) -> Path:
    con = sqlite3.connect(path)
    con.execute("create table episodes (id integer primary key, run_id text, problem_id text, score real, "
                "answer text, generated_tokens integer)")
    con.executemany("insert into episodes (run_id, problem_id, score, answer, generated_tokens) values (?,?,?,?,?)",
                    rows)
    con.commit()
    con.close()
    return path


def test_differences_are_counted_on_shared_problems_and_latest_episode_wins(tmp_path, capsys):
    before = _db(tmp_path / "old.db", [("old-plain", "a", 1.0, "12", 100), ("old-plain", "b", 0.0, "3", 50),
                                       ("old-plain", "c", 1.0, "7", 10)])
    after = _db(tmp_path / "new.db", [("new-plain", "a", 1.0, "12", 100), ("new-plain", "b", 0.0, "4", 60),
                                      ("new-plain", "b", 1.0, "5", 70)])
    out = tmp_path / "cmp.json"
    assert main(["--before", str(before), "--after", str(after), "--runs", "old:new", "--arms", "plain",
                 "--out", str(out)]) == 0
    plain = json.loads(out.read_text())["arms"]["plain"]
    assert plain["shared"] == 2 and plain["only_before"] == ["c"] and plain["only_after"] == []
    assert plain["score_differs"] == ["b"] and plain["answer_differs"] == ["b"]
    assert (plain["before_solved"], plain["after_solved"]) == (1, 2)
    assert (plain["before_generated_tokens"], plain["after_generated_tokens"]) == (150, 170)
    assert "scores differ 1" in capsys.readouterr().out

"""Every failure a user can cause ends in one line `mnemos: error: ...` and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main

REPO = Path(__file__).resolve().parents[2]


def _fails_cleanly(capsys, args: list[str], *expected: str) -> str:
    rc = main(args)
    err = capsys.readouterr().err
    assert rc != 0, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("mnemos: error: "), err
    assert sum(line.startswith("mnemos: error:") for line in err.splitlines()) == 1
    for text in expected:
        assert text in last, last
    return last


def _store_with_one_concept(home: Path, capsys) -> None:
    item = home.parent / "one.jsonl"
    item.write_text(json.dumps({"type": "concept", "name": "gravity"}) + "\n")
    assert main(["--home", str(home), "memory", "import", str(item)]) == 0
    capsys.readouterr()


def test_home_pointing_at_a_file(tmp_path, capsys):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    _fails_cleanly(capsys, ["--home", str(not_a_dir), "memory", "stats"], str(not_a_dir), "not a directory")


@pytest.mark.parametrize(("url", "expected"), [
    ("foo://x", "unsupported database URL foo://x"),
    ("mysql://u:secret@localhost/db", "driver for 'mysql' databases is not installed"),
    ("not a url at all", "not a valid SQLAlchemy database URL"),
])
def test_unusable_database_url(tmp_path, capsys, url, expected):
    last = _fails_cleanly(capsys, ["--home", str(tmp_path / "h"), "--database-url", url, "memory", "stats"], expected)
    assert "secret" not in last


def test_truncated_database(tmp_path, capsys):
    home = tmp_path / "h"
    _store_with_one_concept(home, capsys)
    db = home / "mnemos.db"
    db.write_bytes(db.read_bytes()[:3000])
    for sidecar in home.glob("mnemos.db-*"):
        sidecar.unlink()
    last = _fails_cleanly(capsys, ["--home", str(home), "memory", "stats"], f"cannot open database sqlite:///{db}")
    assert "malformed" in last or "not a database" in last


@pytest.mark.parametrize("damage", ["deleted", "emptied"])
def test_database_file_gone_while_indexes_remain(tmp_path, capsys, damage):
    home = tmp_path / "h"
    _store_with_one_concept(home, capsys)
    for path in home.glob("mnemos.db*"):
        path.unlink()
    if damage == "emptied":
        (home / "mnemos.db").write_bytes(b"")
    _fails_cleanly(capsys, ["--home", str(home), "memory", "stats"], "index files of an existing store", "Restore it")


def test_import_into_a_read_only_database(tmp_path, capsys):
    home = tmp_path / "h"
    _store_with_one_concept(home, capsys)
    other = tmp_path / "two.jsonl"
    other.write_text(json.dumps({"type": "concept", "name": "levity"}) + "\n")
    read_only = f"sqlite:///file:{home / 'mnemos.db'}?mode=ro&uri=true"
    _fails_cleanly(capsys, ["--home", str(home), "--database-url", read_only, "memory", "import", str(other)],
                   "database error: attempt to write a readonly database")
    assert main(["--home", str(home), "memory", "stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["concepts"]["count"] == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
def test_import_into_a_database_file_without_write_permission(tmp_path, capsys):
    home = tmp_path / "h"
    _store_with_one_concept(home, capsys)
    other = tmp_path / "two.jsonl"
    other.write_text(json.dumps({"type": "concept", "name": "levity"}) + "\n")
    for path in home.glob("mnemos.db*"):
        path.chmod(0o444)
    try:
        _fails_cleanly(capsys, ["--home", str(home), "memory", "import", str(other)], "readonly")
    finally:
        for path in home.glob("mnemos.db*"):
            path.chmod(0o644)


def test_missing_config_file(tmp_path, capsys):
    _fails_cleanly(capsys, ["--config", str(tmp_path / "nope.toml"), "memory", "stats"], "config file not found")


def test_invalid_setting_is_one_line(tmp_path, capsys):
    _fails_cleanly(capsys, ["--home", str(tmp_path / "h"), "--max-model-len", "0", "memory", "stats"],
                   "invalid settings: max_model_len")


def test_import_with_bad_lines_lists_them_before_the_error_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "concept"}\n{oops\n')
    _fails_cleanly(capsys, ["--home", str(tmp_path / "h"), "memory", "import", str(bad)], "2 bad line(s), nothing imported")


@pytest.mark.parametrize(("line", "expected"), [
    (b'{"type": "subroutine", "question": "q", "procedure": "p", "uses": 1000000000000000000000000000000}', "64 bits"),
    (b'{"type": "episode", "problem_id": "p", "trace": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    (b"\x89PNG\r\x1a\xff\xfe\x00\x01", "NUL byte"),
    (b"\xff\xfe\xfd binary", "not UTF-8"),
    (b'{"type": "concept", "name": "' + b"x" * 2_000_000 + b'"}', "over 1,000,000 characters"),
], ids=["huge-int", "deep-nesting", "nul", "binary", "huge-field"])
def test_import_of_hostile_content_names_the_line_without_a_traceback(tmp_path, capsys, line, expected):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"type": "concept", "name": "fine"}\n' + line + b"\n")
    rc = main(["--home", str(tmp_path / "h"), "memory", "import", str(bad)])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == f"mnemos: error: {bad}: 1 bad line(s), nothing imported"
    assert any(line.startswith("  line 2: ") and expected in line for line in err.splitlines()), err


def test_import_errors_show_line_and_reason(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"type": "concept", "name": "fine"}\n{"type": "concept", "name": "a\x00"}\n')
    rc = main(["--home", str(tmp_path / "h"), "memory", "import", str(bad)])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err and "line 2: the line holds a NUL byte" in err


@pytest.mark.parametrize("flags", [["--limit", "-1"], ["--limit", "0"], ["--offset", "-1"]])
def test_memory_list_refuses_a_bad_limit_or_offset(tmp_path, capsys, flags):
    _fails_cleanly(capsys, ["--home", str(tmp_path / "h"), "memory", "list", *flags], "--limit must be at least 1")


def test_arc_dir_with_one_unreadable_file_still_loads_the_rest(tmp_path, capsys):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "deep.json").write_text("[" * 100_000)
    (tasks / "cells.json").write_text(json.dumps({"train": [{"input": [[True]], "output": [[1]]}], "test": [{"input": [[1]]}]}))
    rc = main(["--home", str(tmp_path / "h"), "solve", "arc", "--dir", str(tasks), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert "skipped malformed task deep.json: not readable: JSON nested too deeply" in err
    assert "skipped malformed task cells.json: train.0.input: Value error, row 0, column 0 is true" in err
    assert err.strip().splitlines()[-1] == "mnemos: error: no problems to solve"


def test_arc_train_pair_without_output_is_reported_as_a_bad_file(tmp_path, capsys):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    bad = {"train": [{"input": [[1]], "output": [[2]]}, {"input": [[3]]}], "test": [{"input": [[1]]}]}
    (tasks / "no_output.json").write_text(json.dumps(bad))
    rc = main(["--home", str(tmp_path / "h"), "solve", "arc", "--dir", str(tasks), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert "skipped malformed task no_output.json: train: Value error, training pair 1 has no 'output' grid" in err
    assert err.strip().splitlines()[-1] == "mnemos: error: no problems to solve"


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_unknown_variables_and_missing_config_are_warned_about(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_")}
    env.update(MNEMOS_HOME=str(tmp_path / "h"), MNEMOS_TEMPERATUR="0.3", MNEMOS_BUDGETS__RECALLS="2",
               MNEMOS_CONFIG=str(tmp_path / "missing.toml"), MNEMOS_PG_PORT="1")
    proc = _cli(["--help"], env)
    assert proc.returncode == 0 and not proc.stderr, "help does not load settings"
    proc = _cli(["memory", "stats", "--json"], env)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("WARNING agent.config")]
    assert warnings == [
        "WARNING agent.config: ignoring unknown environment variable MNEMOS_TEMPERATUR (did you mean MNEMOS_TEMPERATURE?)",
        f"WARNING agent.config: MNEMOS_CONFIG names {tmp_path / 'missing.toml'}, which is not a file; no config file is read",
    ]


def test_an_unknown_model_ends_a_solve_in_one_line(tmp_path):
    """A new user's first typo once ended in an AttributeError from the batch session's cleanup."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNEMOS_")}
    env.update(MNEMOS_HOME=str(tmp_path / "h"))
    proc = _cli(["--model", "no-such-model", "solve", "math", "--generate", "1"], env)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "AttributeError" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "mnemos: error: unknown model 'no-such-model': not a named model (")

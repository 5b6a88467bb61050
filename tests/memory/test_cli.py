from __future__ import annotations

import json

import pytest

from agent.cli import main


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MNEMOS_CONFIG", str(tmp_path / "no-config.toml"))
    return tmp_path / "home"


def cli(home, *args):
    return main(["--home", str(home), "memory", *args])


def test_memory_cli_end_to_end(home, tmp_path, capsys):
    traces = tmp_path / "traces.jsonl"
    traces.write_text(
        json.dumps({"domain": "math", "subroutines": [{"question": "What is 12 squared?", "procedure": "12*12 = 144"}]}) + "\n"
        + json.dumps({"question": "How do I reverse a list?", "procedure": "read it from the end"}) + "\n"
    )
    assert cli(home, "ingest-traces", str(traces)) == 0
    assert "2 ok" in capsys.readouterr().out

    assert cli(home, "stats", "--json") == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["subroutines"]["count"] == 2 and stats["subroutines"]["indexed"] == 2

    assert cli(home, "search", "square of twelve", "--kind", "subroutine", "-k", "1", "--json") == 0
    hits = json.loads(capsys.readouterr().out)
    assert hits[0]["item"]["procedure"] == "12*12 = 144"

    assert cli(home, "list", "--kind", "subroutine") == 0
    assert "How do I reverse a list?" in capsys.readouterr().out
    assert cli(home, "show", str(hits[0]["id"]), "--kind", "subroutine") == 0
    assert "144" in capsys.readouterr().out
    assert cli(home, "show", "999", "--kind", "subroutine") == 1
    assert "no subroutine with id 999" in capsys.readouterr().err

    out = tmp_path / "export.jsonl"
    assert cli(home, "export", str(out)) == 0
    assert len(out.read_text().splitlines()) == 2

    (home / "indexes" / "subroutines.index").unlink()
    assert cli(home, "rebuild-index") == 0
    assert "subroutines: rebuilt 2 vectors" in capsys.readouterr().out


def test_memory_cli_import_reports_bad_lines(home, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"type": "concept", "name": "ok"}) + "\n" + '{"type": "concept"}\n')
    assert cli(home, "import", str(bad)) == 1
    err = capsys.readouterr().err
    assert "line 2: name: Field required" in err and "nothing imported" in err
    assert cli(home, "stats", "--json") == 0
    assert json.loads(capsys.readouterr().out)["concepts"]["count"] == 0

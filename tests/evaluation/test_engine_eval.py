"""`mnemos eval --small` end to end on the real engine (SmolLM2-135M): the machinery, not the figures."""

from __future__ import annotations

import json

import pytest

from agent.cli import main


@pytest.mark.engine
def test_eval_math_small_on_the_real_engine(tmp_path, capsys):
    home = tmp_path / "home"
    args = ["--home", str(home), "eval", "math", "--small", "--no-progress", "--name", "ci", "--resamples", "1000",
            "--publish", "ci", "--publish-dir", str(tmp_path / "results")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Δ pts" in out

    result = json.loads((home / "runs" / "ci" / "eval.json").read_text())
    assert result["model"] == "smollm2-135m" and result["n"] == 4
    assert list(result["arms"]) == ["plain", "off", "frozen", "learning"]
    for arm, row in result["arms"].items():
        assert row["n"] == 4 and row["errors"] == 0, (arm, row)
        assert 0 <= row["ci95"][0] <= row["accuracy"] <= row["ci95"][1] <= 1
        assert row["generated_tokens_per_problem"] > 0 and row["seconds_per_problem"] > 0
        assert row["delta_ci95"] is not None and 0 <= row["mcnemar_p"] <= 1
    assert result["arms"]["plain"]["tags"] == {}
    assert sum(u["count"] for u in result["arms"]["off"]["tags"].values()) > 0  # the controller's segments closed tags
    assert result["snapshot"]["name"] == "ci-train" and result["train"]["problems"] == 4
    assert result["arms"]["frozen"]["memory_unchanged"] is True
    published = json.loads((tmp_path / "results" / "ci.json").read_text())
    assert {"model", "n", "arms"} <= set(published)

    # Resuming a finished evaluation starts no engine and reports the same numbers.
    capsys.readouterr()
    assert main(args) == 0
    assert "starting the engine" not in capsys.readouterr().err
    assert json.loads((home / "runs" / "ci" / "eval.json").read_text())["arms"] == result["arms"]


@pytest.mark.engine
def test_eval_game24_small_learns_procedures_on_the_real_engine(tmp_path, capsys, monkeypatch):
    """Training asks the real engine for programs, runs each in the jail on the check puzzles and keeps only one that
    beats the model's own rate; the frozen arm reads that store without writing it. The machinery, not the figures."""
    import sqlite3

    monkeypatch.setenv("MNEMOS_BUDGETS__RETRIES", "0")
    monkeypatch.setenv("MNEMOS_BUDGETS__PROCEDURE_SAMPLES", "1")
    monkeypatch.setenv("MNEMOS_BUDGETS__PROCEDURE_TOKENS", "192")
    home = tmp_path / "home"
    args = ["--home", str(home), "eval", "game24", "--small", "--no-progress", "--name", "ci24", "--resamples", "200",
            "--arms", "frozen", "--max-tokens", "192"]
    assert main(args) == 0
    result = json.loads((home / "runs" / "ci24" / "eval.json").read_text())
    assert result["model"] == "smollm2-135m" and result["n"] == 4
    [frozen] = result["arms"].values()
    assert frozen["n"] == 4 and frozen["errors"] == 0 and frozen["memory_unchanged"] is True, frozen
    learned = result["train"]["procedures"]
    assert learned["greedy_asked"] >= 1 and learned["programs"] >= learned["greedy_asked"]
    assert 0 <= learned["general"] <= learned["programs"]
    with sqlite3.connect(home / "runs" / "ci24" / "train-store" / "memory.db") as db:
        kept = db.execute("select checked, passed, baseline from procedures where status = 'active'").fetchall()
        family = db.execute("select value from mnemos_meta where key = 'family_rate:game24'").fetchone()
    assert family is not None and int(family[0].split("/")[1]) == learned["greedy_asked"]
    for checked, passed, baseline in kept:  # 135M rarely writes one; any it kept beat the model's own rate
        assert checked >= 1 and passed / checked > baseline

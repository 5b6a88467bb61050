"""Reports: per-run rows from episodes, the per-mode comparison, JSON + PNG output, and the CLI."""

from __future__ import annotations

import json

import pytest
from batch_standins import answer_gold

from agent.batch.report import (
    build_report,
    format_report,
    load_summary,
    run_episodes,
    run_report,
    save_summary,
    summary_report,
    write_report,
)
from agent.batch.runner import BatchConfig, run_batch
from agent.cli import main
from memory.schemas import Episode
from tools.tasks.mathgen import generate


def _run(store, run_id, mode, n=4):
    return run_batch(generate(n), answer_gold, store, BatchConfig(run_id=run_id, memory_mode=mode, progress=False))


def test_run_report_from_episodes_matches_runner_totals(episode_store):
    summary = _run(episode_store, "base", "off")
    row = run_report("base", run_episodes(episode_store, "base", page=3), None)
    assert (row.finished, row.solved, row.errors, row.memory_mode, row.domain) == (4, 2, 0, "off", "math")
    assert row.score == pytest.approx(summary.score) == pytest.approx(0.5)
    assert row.prompt_tokens == summary.prompt_tokens and row.generated_tokens == summary.generated_tokens


def test_latest_episode_per_problem_counts(episode_store):
    episode_store.add(Episode(run_id="x", problem_id="p", input="q", verdict="error"))
    episode_store.add(Episode(run_id="x", problem_id="p", input="q", verdict="correct", score=1.0))
    row = run_report("x", run_episodes(episode_store, "x"))
    assert (row.finished, row.solved, row.errors, row.score) == (1, 1, 0, 1.0)


def test_unknown_run_is_an_error(episode_store):
    with pytest.raises(ValueError, match="no episodes recorded for run 'ghost'"):
        run_report("ghost", run_episodes(episode_store, "ghost"))


def test_mode_comparison_and_files(episode_store, tmp_path):
    _run(episode_store, "a-off", "off")
    _run(episode_store, "a-learn", "learning", n=6)
    runs = [run_report(r, run_episodes(episode_store, r)) for r in ("a-off", "a-learn")]
    report = build_report(runs)
    assert [(m.memory_mode, m.finished) for m in report.modes] == [("learning", 6), ("off", 4)]
    text = format_report(report)
    assert "By memory mode:" in text and "a-learn" in text and "learning" in text
    json_path, png_path = write_report(report, tmp_path / "out", "cmp")
    data = json.loads(json_path.read_text())
    assert [r["run_id"] for r in data["runs"]] == ["a-off", "a-learn"]
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png_path.stat().st_size > 5000


def test_summary_round_trip_and_total(episode_store, tmp_path):
    summary = _run(episode_store, "s", "frozen")
    summary = summary.model_copy(update={"total": 10})
    save_summary(summary, tmp_path)
    loaded = load_summary("s", tmp_path)
    assert loaded == summary and loaded.wall_seconds_total == summary.wall_seconds
    row = run_report("s", run_episodes(episode_store, "s"), loaded)
    assert row.total == 10 and row.finished == 4 and row.memory_mode == "frozen"
    assert load_summary("none", tmp_path) is None


def test_a_resumed_run_adds_its_wall_time_to_the_earlier_invocations(tmp_path):
    from agent.batch.runner import BatchSummary

    save_summary(BatchSummary(run_id="r", memory_mode="off", wall_seconds=100.0), tmp_path)
    save_summary(BatchSummary(run_id="r", memory_mode="off", wall_seconds=30.0, resumed=5), tmp_path)
    loaded = load_summary("r", tmp_path)
    assert loaded is not None and loaded.wall_seconds == 30.0 and loaded.wall_seconds_total == 130.0


def test_cli_report(tmp_path, capsys):
    from memory.db import Database
    from memory.episodes import EpisodeStore

    home = tmp_path / "home"
    home.mkdir()
    db = Database(f"sqlite:///{home / 'mnemos.db'}")
    store = EpisodeStore(db)
    _run(store, "cli-off", "off")
    _run(store, "cli-learn", "learning")
    db.dispose()
    assert main(["--home", str(home), "report", "cli-off", "cli-learn"]) == 0
    out = capsys.readouterr().out
    assert "cli-off" in out and "By memory mode:" in out
    assert (home / "runs" / "report_cli-off_vs_cli-learn.png").is_file()
    assert (home / "runs" / "report_cli-off_vs_cli-learn.json").is_file()
    assert main(["--home", str(home), "report", "missing"]) == 1


def test_gold_verified_runs_are_labelled_apart_from_held_out_ones(episode_store):
    run_batch(generate(4), answer_gold, episode_store, BatchConfig(run_id="g", memory_mode="learning", verify="gold",
                                                                    progress=False))
    summary = _run(episode_store, "h", "learning")
    rows = {r.run_id: r for r in (run_report("g", run_episodes(episode_store, "g")), summary_report(summary))}
    assert rows["g"].memory_mode == "learning+gold" and rows["h"].memory_mode == "learning"
    modes = {m.memory_mode for m in build_report(list(rows.values())).modes}
    assert modes == {"learning", "learning+gold"}

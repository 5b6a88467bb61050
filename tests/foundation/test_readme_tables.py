"""The README's result tables are the published JSON figures, not hand-copied numbers."""

from benchmarks.readme_tables import TABLES, main, render


def test_readme_tables_match_docs_results() -> None:
    assert main(["--check"]) == 0, "run: python benchmarks/readme_tables.py"


def test_a_changed_figure_changes_the_table(tmp_path, monkeypatch) -> None:
    import benchmarks.readme_tables as rt

    (tmp_path / "sandbox_attacks.json").write_text('{"attacks": 5, "escapes": 1, "by_outcome": {"blocked": 5}}')
    monkeypatch.setattr(rt, "RESULTS", tmp_path)
    out = render("x\n<!-- results:sandbox_attacks -->\nold\n<!-- /results:sandbox_attacks -->\ny")
    assert "| 5 | 1 | blocked 5 | – |" in out and "old" not in out
    assert set(TABLES) >= {"gsm8k_dev_ablation", "throughput", "sandbox_attacks"}


def test_the_memory_summary_puts_both_ablations_side_by_side(tmp_path, monkeypatch) -> None:
    import json

    import benchmarks.readme_tables as rt

    arm = {"n": 200, "solved": 176, "accuracy": 0.88, "delta_vs_plain": 0.85, "delta_ci95": [0.8, 0.9]}
    (tmp_path / "game24_dev_ablation.json").write_text(json.dumps(
        {"model": "m", "n": 200, "arms": {"plain": {"n": 200, "solved": 6, "accuracy": 0.03}, "frozen": arm}}))
    monkeypatch.setattr(rt, "RESULTS", tmp_path)
    out = render("<!-- results:memory_results -->\n<!-- /results:memory_results -->")
    assert "| frozen | trained memory, read only | 176/200 (88.0%) | +85.0 (+80.0 .. +90.0) |" in out
    assert "| plain | the model alone | 6/200 (3.0%) | – |" in out and "| off | controller, no memory | not run | – |" in out
    assert "GSM8K" not in out  # its file is absent here

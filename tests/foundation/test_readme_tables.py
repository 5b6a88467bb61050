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

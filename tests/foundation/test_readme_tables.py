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


def test_the_family_table_shows_each_family_its_check_the_gain_and_retrieval(tmp_path, monkeypatch) -> None:
    import json

    import benchmarks.readme_tables as rt

    data = {"model": "m", "n": 60, "arms": {"plain": {"n": 60, "solved": 3, "accuracy": 0.05},
                                            "frozen": {"n": 60, "solved": 33, "accuracy": 0.55}},
            "groups": {"family": {"countdown": {"n": 30, "plain": 0.0, "frozen": 0.9},
                                  "word_sorting": {"n": 30, "plain": 0.1, "frozen": 0.2}}},
            "family_checks": {"gym/countdown": "gold-free", "gym/word_sorting": "cross-check"},
            "procedures": [{"domain": "gym/countdown"}, {"domain": "gym/countdown"}],
            "hit_at_3": 0.96, "tokens_per_solved": {"plain": 4000.0, "frozen": 300.0},
            "train": {"wall_seconds": 1800.0}, "machines": [{"cpu": "Xeon X", "cores": 2, "native_bf16": True}]}
    data["arms"]["frozen"]["wall_seconds"] = 600.0
    (tmp_path / "gym_dev_ablation.json").write_text(json.dumps(data))
    monkeypatch.setattr(rt, "RESULTS", tmp_path)
    out = render("<!-- results:gym_families -->\n<!-- /results:gym_families -->")
    assert "| countdown | gold-free | 30 | 0.0% | 90.0% | +27 | 2 |" in out
    assert "| word_sorting | cross-check | 30 | 10.0% | 20.0% | +3 | 0 |" in out
    assert "retrieval hit@3: 96.0%" in out and "plain 4,000, frozen 300" in out
    assert "wall time: training 30 min, frozen 10 min" in out and "measured on Xeon X (2 cores, native bf16)" in out
    assert "not solved again" not in out
    data["carried"] = {"plain": "first-run"}
    (tmp_path / "gym_dev_ablation.json").write_text(json.dumps(data))
    out = render("<!-- results:gym_families -->\n<!-- /results:gym_families -->")
    assert "plain: the episodes (and wall time) of evaluation `first-run` on the same split and settings" in out


def test_the_arc_table_says_which_stored_procedure_answered_which_task(tmp_path, monkeypatch) -> None:
    import json

    import benchmarks.readme_tables as rt

    arms = {"plain": {"n": 60, "solved": 0, "accuracy": 0.0, "tokens_per_problem": 900.0},
            "frozen": {"n": 60, "solved": 2, "accuracy": 2 / 60, "tokens_per_problem": 1500.0}}
    data = {"model": "m", "n": 60, "arms": arms,
            "procedures": [{"id": 4, "source": "arc-train:d037b0a7:1f"}, {"id": 9, "source": "arc-train:74dd1130:2c"}],
            "procedure_solves": [{"problem": "66e6c45b", "score": 1.0, "procedures": [9]},
                                 {"problem": "e133d23d", "score": 0.5, "procedures": [4, 9]}]}
    (tmp_path / "arc_small_ablation.json").write_text(json.dumps(data))
    monkeypatch.setattr(rt, "RESULTS", tmp_path)
    out = render("<!-- results:arc_small_ablation -->\n<!-- /results:arc_small_ablation -->")
    assert "| frozen | 60 | 2 | 3.3% (" in out and "Frozen memory held 2 procedure(s)" in out
    assert "66e6c45b by P9 (learned on `arc-train:74dd1130:2c`)" in out
    assert "e133d23d by P4 (learned on `arc-train:d037b0a7:1f`), P9 (learned on `arc-train:74dd1130:2c`), scored 0.50" \
        in out
    data["procedure_solves"] = []
    (tmp_path / "arc_small_ablation.json").write_text(json.dumps(data))
    assert "no dev problem was answered by a stored procedure" in render(
        "<!-- results:arc_small_ablation -->\n<!-- /results:arc_small_ablation -->")


def test_an_eval_chart_with_groups_draws_them(tmp_path) -> None:
    from agent.evaluation.report import ArmResult, EvalReport, write_chart
    from tools.domains.split import SplitRecord

    arm = ArmResult(arm="plain", run_id="r", n=4, solved=1, errors=0, accuracy=0.25, ci95=(0.05, 0.7),
                    tokens_per_problem=10, generated_tokens_per_problem=5, seconds_per_problem=1)
    report = EvalReport(name="x", kind="gym", model="m", n=4, arms={"plain": arm}, split=SplitRecord(kind="gym",
                        method="seeded"), groups={"family": {"a": {"n": 2, "plain": 0.5}, "b": {"n": 2, "plain": 0.0}}})
    path = write_chart(report, tmp_path / "c.png")
    assert path.stat().st_size > 1000

"""`mnemos eval` end to end on a scripted model: every arm, the snapshot, the published JSON, resume."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent.cli import main
from agent.evaluation.stats import mcnemar_exact, wilson_interval
from tests.controller.conftest import HashEncoder
from tests.fakes import ScriptedGenerator
from tools.tasks import arc
from tools.tasks.mathgen import generate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "arc_tasks"
CONCEPT = "concept: totals of parts\nkind: routine\ndescription: add the parts.\ncues: a total.\nnotes: sum.\n"
PAIRS = "Q: how to total the parts\nP: add every part\n"


def plain_right(problem_id: str) -> bool:
    """The scripted model alone solves even-numbered problems; through the controller it solves all."""
    return int(problem_id.rsplit("-", 1)[1]) % 2 == 0


def math_model(problems):
    golds = {p.prompt: (p.id, p.gold) for p in problems}

    def answer(prompt, params):
        if params.choice:  # concept selection: take every offered concept
            return params.choice[0]
        if params.regex:  # the memory writers: a concept, or sub-question/procedure pairs
            return CONCEPT if params.regex.startswith("concept") else PAIRS
        for question, (pid, gold) in golds.items():
            if question in prompt:
                if not params.stop:  # the plain arm: one generation, no controller tags to stop at
                    return f"Step by step. \\boxed{{{gold if plain_right(pid) else 99999}}}"
                return f"Adding up. <answer>{gold}</answer>"
        return "<answer>0</answer>"

    return ScriptedGenerator(answer)


@pytest.fixture
def fake_engine(monkeypatch):
    """Patch the engine and the embedder; returns the list of models started."""
    import agent.engine
    import retrieval.embedder

    started: list[ScriptedGenerator] = []

    def start(cls, settings, **kw):
        started.append(math_model(generate(8, seed=0)))
        return started[-1]

    monkeypatch.setattr(agent.engine.Engine, "from_settings", classmethod(start))
    monkeypatch.setattr(retrieval.embedder, "Embedder", lambda *a, **kw: HashEncoder())
    # Hashed bag-of-words similarities are not MiniLM's: let every stored entry clear the relevance bar.
    monkeypatch.setenv("MNEMOS_BUDGETS__MIN_RELEVANCE", "-1")
    return started


def test_eval_math_small_runs_every_arm_publishes_and_resumes(tmp_path, fake_engine, capsys):
    home, pub = tmp_path / "home", tmp_path / "results"
    args = ["--home", str(home), "eval", "math", "--small", "--no-progress", "--name", "t", "--resamples", "2000",
            "--publish", "ablation", "--publish-dir", str(pub)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Δ pts" in out and re.search(r"^plain\s+4\s", out, re.MULTILINE)
    assert len(fake_engine) == 1

    split = json.loads((home / "runs" / "t" / "split.json").read_text())
    dev, train = split["dev_ids"], split["train_ids"]
    assert len(dev) == len(train) == 4 and not set(dev) & set(train)
    plain_solved = sum(plain_right(p) for p in dev)

    result = json.loads((home / "runs" / "t" / "eval.json").read_text())
    assert result["model"] == "smollm2-135m" and result["n"] == 4
    arms = result["arms"]
    assert list(arms) == ["plain", "off", "frozen", "learning"]
    assert arms["plain"]["solved"] == plain_solved and arms["plain"]["accuracy"] == plain_solved / 4
    assert arms["plain"]["ci95"] == pytest.approx(wilson_interval(plain_solved, 4))
    assert arms["plain"]["delta_vs_plain"] == 0 and arms["plain"]["mcnemar_p"] == 1.0
    for arm in ("off", "frozen", "learning"):
        row = arms[arm]
        assert row["accuracy"] == 1.0 and row["errors"] == 0
        assert row["delta_vs_plain"] == pytest.approx(1 - plain_solved / 4)
        lo, hi = row["delta_ci95"]
        assert lo <= row["delta_vs_plain"] <= hi
        assert row["mcnemar_p"] == pytest.approx(mcnemar_exact([True] * 4, [plain_right(p) for p in dev])[2])
        assert row["tags"]["answer"]["problems"] == 1.0
    assert result["scores"]["plain"] == {p: float(plain_right(p)) for p in dev}
    assert arms["plain"]["tags"] == {} and arms["plain"]["tokens_per_problem"] > 0

    # Learning on train with gold verification wrote memory, and the snapshot recorded it. Math has no held
    # problems to try a written concept on, so no concept could show it helps and none is stored.
    snap = result["snapshot"]
    assert snap["name"] == "t-train" and snap["counts"]["concepts"] == 0 and snap["counts"]["subroutines"] >= 1
    assert result["train"].pop("wall_seconds") > 0
    assert result["train"] == {"run_id": "t-train", "problems": 4, "verified": 4, "verify": "gold"}
    assert all(row["wall_seconds"] > 0 for row in arms.values())
    assert arms["frozen"]["memory_unchanged"] is True
    assert arms["frozen"]["memory"]["concepts_offered"]["count"] == 0  # none stored (above)
    assert arms["frozen"]["memory"]["subroutines_offered"]["count"] >= 1
    # Math has no gold-free check, so test-time learning verifies nothing and writes nothing.
    assert set(arms["learning"]["memory_written"].values()) == {0}
    manifest = json.loads((home / "snapshots" / "t-train" / "manifest.json").read_text())
    assert manifest["content_sha256"] == snap["content_sha256"]

    published = json.loads((pub / "ablation.json").read_text())
    assert published["model"] == "smollm2-135m" and published["n"] == 4
    for row in published["arms"].values():
        assert {"accuracy", "ci95", "delta_vs_plain", "delta_ci95", "mcnemar_p", "tokens_per_problem"} <= set(row)
    assert published["split"]["dev_size"] == 4 and "dev_ids" not in published["split"]
    assert (pub / "ablation.png").stat().st_size > 0 and (home / "runs" / "t" / "eval.png").is_file()

    # Rerunning the same command does no new work: no engine, same figures.
    assert main(args) == 0
    assert len(fake_engine) == 1
    assert json.loads((home / "runs" / "t" / "eval.json").read_text())["arms"] == arms
    assert "0 of 4 problems to solve" in capsys.readouterr().err


def test_eval_adds_arms_later_and_resumes_a_partial_arm(tmp_path, fake_engine, capsys):
    home = tmp_path / "home"
    base = ["--home", str(home), "eval", "math", "--generate", "10", "--dev-size", "5", "--no-progress",
            "--resamples", "500"]
    assert main([*base, "--arms", "plain"]) == 0
    name = next(p.name for p in (home / "runs").iterdir() if p.name.startswith("eval-math-mathgen-"))
    assert not (home / "snapshots").exists()  # no memory arm, so no training
    from memory.db import Database
    from memory.episodes import EpisodeStore

    db = Database(f"sqlite:///{home / 'mnemos.db'}")
    try:
        store = EpisodeStore(db)
        assert store.count(f"{name}-plain") == 5
        assert store.count(f"{name}-train") == 0
    finally:
        db.dispose()
    capsys.readouterr()
    assert main([*base, "--arms", "off,plain"]) == 0
    err = capsys.readouterr().err
    assert f"arm plain: run {name}-plain, 0 of 5" in err and f"arm off: run {name}-off, 5 of 5" in err
    assert err.index("arm off:") < err.index("arm plain:")  # run in the order given
    assert len(fake_engine) == 2
    report = json.loads((home / "runs" / name / "eval.json").read_text())
    assert list(report["arms"]) == ["plain", "off"] and report["n"] == 5  # reported in the canonical order


def test_eval_refuses_a_changed_split_and_a_missing_snapshot(tmp_path, fake_engine, capsys):
    home = tmp_path / "home"
    base = ["--home", str(home), "eval", "math", "--generate", "10", "--dev-size", "5", "--no-progress",
            "--name", "same", "--arms", "plain"]
    assert main(base) == 0
    assert main([*base, "--split-seed", "1"]) == 1
    assert "different split" in capsys.readouterr().err
    assert main([*base, "--max-tokens", "100"]) == 1
    assert "other settings (max_tokens 512 -> 100)" in capsys.readouterr().err
    assert main(["--home", str(home), "eval", "math", "--generate", "10", "--dev-size", "5", "--arms", "frozen",
                 "--skip-train", "--snapshot", "nope"]) == 1
    assert "needs an existing snapshot; 'nope' not found" in capsys.readouterr().err
    assert main(["--home", str(home), "eval", "math", "--generate", "10"]) == 1
    assert "--dev-size" in capsys.readouterr().err
    assert main(["--home", str(home), "eval", "math", "--generate", "10", "--dev-size", "5", "--arms", "plain,x"]) == 1
    assert "unknown arm" in capsys.readouterr().err


def arc_model():
    """Alone, the scripted model copies the gold grid for every task except mirror_rows."""
    tasks = {t.id: t for t in arc.load_dir(EXAMPLES).tasks}

    def answer(prompt, params):
        for tid, task in tasks.items():
            if "Example 1 input:\n[" + json.dumps(task.train[0].input[0]) in prompt:
                grids = [p.output for p in task.test] if tid != "mirror_rows" else [[[0]]] * len(task.test)
                return "\n".join(f"Test output {k}: {json.dumps(g)}" for k, g in enumerate(grids, 1))
        return "<answer>```python\ndef transform(grid):\n    return grid\n```</answer>"

    return ScriptedGenerator(answer)


def test_eval_arc_plain_is_scored_by_the_official_rule(tmp_path, monkeypatch, capsys):
    import agent.engine

    monkeypatch.setattr(agent.engine.Engine, "from_settings", classmethod(lambda cls, s, **kw: arc_model()))
    empty = tmp_path / "no-train"
    empty.mkdir()
    home = tmp_path / "home"
    args = ["--home", str(home), "eval", "arc", "--train-dir", str(empty), "--dev-dir", str(EXAMPLES),
            "--arms", "plain,off", "--name", "a", "--no-progress", "--resamples", "500"]
    assert main(args) == 0
    result = json.loads((home / "runs" / "a" / "eval.json").read_text())
    assert result["kind"] == "arc" and result["n"] == 3
    assert result["scores"]["plain"] == {"double_size": 1.0, "mirror_rows": 0.0, "recolor_blue_to_red": 1.0}
    assert 0.0 <= result["arms"]["off"]["accuracy"] <= 1.0 and result["arms"]["off"]["n"] == 3


def test_eval_arc_smallest_takes_the_tasks_with_fewest_grid_cells(tmp_path, monkeypatch):
    import agent.engine

    monkeypatch.setattr(agent.engine.Engine, "from_settings", classmethod(lambda cls, s, **kw: arc_model()))
    home = tmp_path / "home"
    args = ["--home", str(home), "eval", "arc", "--train-dir", str(EXAMPLES), "--dev-dir", str(EXAMPLES),
            "--arms", "plain", "--name", "s", "--no-progress", "--resamples", "200"]
    assert main([*args, "--smallest", "2", "--train-smallest", "1"]) == 0
    split = json.loads((home / "runs" / "s" / "split.json").read_text())
    sizes = {p.id: arc.grid_cells(p) for p in (arc.to_problem(t) for t in arc.load_dir(EXAMPLES).tasks)}
    by_size = sorted(sizes, key=lambda i: (sizes[i], i))
    assert split["dev_ids"] == by_size[:2] and "smallest 2" in split["sources"]["dev"]
    assert "smallest 1" in split["sources"]["train"] and split["train_dropped"] == by_size[:1]  # also in dev
    assert main([*args, "--smallest", "0"]) == 1


def test_training_copies_of_dev_problems_are_left_out(tmp_path, fake_engine, capsys):
    rows = [{"question": f"What is {i} plus {i}?", "answer": f"#### {2 * i}"} for i in range(6)]
    train, dev = tmp_path / "train.jsonl", tmp_path / "dev.jsonl"
    train.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    dev.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n")
    home = tmp_path / "home"
    assert main(["--home", str(home), "eval", "math", "--train", str(train), "--dev", str(dev), "--arms", "plain",
                 "--name", "f", "--no-progress", "--resamples", "200"]) == 0
    assert "left 2 training problem(s) out that also occur in dev: train-1, train-2" in capsys.readouterr().err
    split = json.loads((home / "runs" / "f" / "split.json").read_text())
    assert split["train_ids"] == ["train-3", "train-4", "train-5", "train-6"]
    assert split["train_dropped"] == ["train-1", "train-2"] and split["dev_ids"] == ["dev-1", "dev-2"]
    assert split["method"] == "files" and len(split["source_sha256"]["train"]) == 64


def test_an_interrupted_eval_resumes_where_it_stopped(tmp_path, monkeypatch, capsys):
    import agent.engine

    healthy = math_model(generate(8, seed=0))
    calls = {"n": 0}

    def flaky(prompt, params):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # Ctrl-C while the plain arm is under way
        return healthy._fn(prompt, params)

    model = ScriptedGenerator(flaky)
    monkeypatch.setattr(agent.engine.Engine, "from_settings", classmethod(lambda cls, s, **kw: model))
    home = tmp_path / "home"
    args = ["--home", str(home), "eval", "math", "--generate", "8", "--dev-size", "4", "--arms", "plain,off",
            "--name", "k", "--no-progress", "--resamples", "200", "--concurrency", "1"]
    assert main(args) == 130
    assert "rerun the same command" in capsys.readouterr().err
    assert not (home / "runs" / "k" / "eval.json").exists()

    assert main(args) == 0
    left = int(re.search(r"arm plain: run k-plain, (\d) of 4", capsys.readouterr().err).group(1))
    assert 2 <= left <= 3  # the problems finished before Ctrl-C (one or two, by timing) were kept
    result = json.loads((home / "runs" / "k" / "eval.json").read_text())
    assert result["arms"]["plain"]["n"] == result["arms"]["off"]["n"] == 4
    assert result["arms"]["off"]["accuracy"] == 1.0
    assert calls["n"] == 3 + left + 4  # the plain problems left, then the off arm: nothing finished is redone


def test_eval_grows_with_a_larger_limit_and_reports_a_smaller_one_on_its_first_problems(tmp_path, fake_engine, capsys):
    home = tmp_path / "home"
    base = ["--home", str(home), "eval", "math", "--generate", "10", "--dev-size", "5", "--no-progress",
            "--name", "grow", "--arms", "plain", "--resamples", "200"]
    assert main([*base, "--limit", "3"]) == 0
    capsys.readouterr()
    assert main([*base, "--limit", "5"]) == 0
    assert "arm plain: run grow-plain, 2 of 5 problems to solve" in capsys.readouterr().err
    assert json.loads((home / "runs" / "grow" / "eval.json").read_text())["n"] == 5
    assert main([*base, "--limit", "2"]) == 0
    assert "0 of 2 problems to solve" in capsys.readouterr().err
    assert json.loads((home / "runs" / "grow" / "eval.json").read_text())["n"] == 2
    assert main(base) == 0  # the recorded split stays the largest one asked for
    assert json.loads((home / "runs" / "grow" / "eval.json").read_text())["n"] == 5
    assert main([*base, "--limit", "4", "--split-seed", "1"]) == 1
    assert "different split" in capsys.readouterr().err


def test_eval_gym_mixes_families_in_one_stream_and_reports_each(tmp_path, fake_engine, capsys):
    """The many-families path end to end on the scripted model: split by seeds, one store, per-family groups."""
    home, pub = tmp_path / "home", tmp_path / "results"
    args = ["--home", str(home), "eval", "gym", "--families", "count_primes,word_sorting", "--train-size", "2",
            "--dev-size", "2", "--seed", "3", "--arms", "plain,scaffold,frozen", "--no-progress", "--name", "g",
            "--resamples", "200", "--publish", "gym", "--publish-dir", str(pub)]
    assert main(args) == 0
    split = json.loads((home / "runs" / "g" / "split.json").read_text())
    assert [i.split("/")[0] for i in split["dev_ids"]] == ["count_primes", "word_sorting"] * 2  # one mixed stream
    assert {i.split("/")[1] for i in split["dev_ids"]} == {"s1003"} and {i.split("/")[1] for i in split["train_ids"]} == {"s3"}
    result = json.loads((pub / "gym.json").read_text())
    assert list(result["arms"]) == ["plain", "scaffold", "frozen"] and result["n"] == 4
    assert set(result["groups"]["family"]) == {"count_primes", "word_sorting"}
    assert result["family_checks"] == {"gym/count_primes": "cross-check", "gym/word_sorting": "cross-check"}
    assert "hit_at_3" in result and result["machines"] and result["train"]["wall_seconds"] > 0
    assert main(["--home", str(home), "solve", "gym", "--family", "countdown", "--size", "2", "--seed", "9",
                 "--run-id", "s", "--no-progress"]) == 0
    solved = json.loads((home / "runs" / "s" / "summary.json").read_text())
    assert (solved["domain"], solved["total"], solved["finished"], solved["errors"]) == ("gym", 2, 2, 0)


def test_arms_that_read_no_learned_memory_are_carried_from_an_evaluation_of_the_same_split(
        tmp_path, fake_engine, capsys, monkeypatch):
    """A second training recipe on the same split reuses plain and scaffold (an hour and more on a CPU) instead of
    solving them again; another split or another setting an arm reads is refused, and a learning budget is not one."""
    home = tmp_path / "home"
    base = ["--home", str(home), "eval", "math", "--generate", "10", "--dev-size", "5", "--no-progress",
            "--resamples", "200"]
    assert main([*base, "--name", "first", "--arms", "plain,scaffold"]) == 0
    assert len(fake_engine) == 1
    first = json.loads((home / "runs" / "first" / "eval.json").read_text())
    capsys.readouterr()

    monkeypatch.setenv("MNEMOS_BUDGETS__PROCEDURE_SAMPLES", "7")  # read only while learning
    assert main([*base, "--name", "second", "--arms", "plain,scaffold,frozen", "--baselines-from", "first"]) == 0
    err = capsys.readouterr().err
    assert "arm plain: run second-plain, 0 of 5" in err and "arm scaffold: run second-scaffold, 0 of 5" in err
    assert "arm frozen: run second-frozen, 5 of 5" in err
    second = json.loads((home / "runs" / "second" / "eval.json").read_text())
    assert second["carried"] == {"plain": "first", "scaffold": "first"}
    for arm in ("plain", "scaffold"):
        assert second["scores"][arm] == first["scores"][arm]
        assert second["arms"][arm]["wall_seconds"] == first["arms"][arm]["wall_seconds"]
    assert first["carried"] == {}

    monkeypatch.setenv("MNEMOS_BUDGETS__SEGMENTS", "3")  # the scaffold arm reads this one
    assert main([*base, "--name", "third", "--arms", "plain", "--baselines-from", "first"]) == 1
    assert "other settings (budgets.segments)" in capsys.readouterr().err
    monkeypatch.delenv("MNEMOS_BUDGETS__SEGMENTS")
    assert main([*base, "--name", "fourth", "--split-seed", "1", "--arms", "plain", "--baselines-from", "first"]) == 1
    assert "another split" in capsys.readouterr().err
    assert main([*base, "--name", "fifth", "--arms", "plain", "--baselines-from", "nothing"]) == 1
    assert "no finished evaluation" in capsys.readouterr().err

    # A few of a mixed gym evaluation's families, trained otherwise: where ids name the same problem in every split,
    # the model-alone arms of the larger one still apply, and their wall time is carried pro rata.
    some = [*base[:3], "gym", "--families", "count_primes", "--train-size", "3", "--dev-size", "2", "--seed", "3",
            "--no-progress", "--resamples", "200", "--arms", "plain"]
    assert main([*base[:3], "gym", "--families", "count_primes,word_sorting", "--train-size", "2", "--dev-size", "2",
                 "--seed", "3", "--no-progress", "--resamples", "200", "--arms", "plain", "--name", "mixed"]) == 0
    capsys.readouterr()
    assert main([*some, "--train-seed", "5", "--name", "part", "--baselines-from", "mixed"]) == 0
    assert "arm plain: run part-plain, 0 of 2" in capsys.readouterr().err
    split = json.loads((home / "runs" / "part" / "split.json").read_text())
    assert {i.split("/")[1] for i in split["train_ids"]} == {"s5"} and split["seed"] == 5
    assert {i.split("/")[1] for i in split["dev_ids"]} == {"s1003"}
    mixed, part = (json.loads((home / "runs" / n / "eval.json").read_text()) for n in ("mixed", "part"))
    assert part["carried"] == {"plain": "mixed"} and part["n"] == 2
    assert part["scores"]["plain"] == {k: v for k, v in mixed["scores"]["plain"].items() if k.startswith("count")}
    assert part["arms"]["plain"]["wall_seconds"] == pytest.approx(mixed["arms"]["plain"]["wall_seconds"] / 2)
    assert main([*some, "--seed", "4", "--name", "other", "--baselines-from", "mixed"]) == 1
    assert "another split" in capsys.readouterr().err
    assert main([*some, "--train-seed", "1003", "--name", "clash"]) == 1
    assert "is the dev seed" in capsys.readouterr().err


def test_training_that_reasons_tries_each_written_concept_on_held_problems_and_reports_the_trials(
        tmp_path, fake_engine, monkeypatch):
    """``--train-reason``: a training problem no procedure answers is solved by the graph, checked against gold,
    and the concept then written is kept only because its A/B trial on held problems showed it helps."""
    import agent.engine
    from tools.tasks import gym

    sieve = ("concept: sieve of eratosthenes\nkind: routine\ndescription: cross out multiples up to the root.\n"
             "cues: a range to search.\nnotes: mark composites first.\n")
    golds = {p.prompt: p.gold for seed in (5, gym.CHECK_SEED) for p in gym.problems("count_primes", seed, 12)}

    def answer(prompt, params):
        if params.choice:
            return params.choice[0]
        if params.regex:
            return sieve if params.regex.startswith("concept") else PAIRS
        gold = next((g for q, g in golds.items() if q in prompt), "0")
        if not params.stop:  # a trial solve, asked as the plain arm asks: right only with the concept shown
            return f"\\boxed{{{gold if 'sieve of eratosthenes' in prompt else 1}}}"
        return f"<answer>{gold}</answer>"  # the controller; a program request gets no code, so none is learned

    monkeypatch.setattr(agent.engine.Engine, "from_settings", classmethod(lambda cls, s, **kw: ScriptedGenerator(answer)))
    home, pub = tmp_path / "home", tmp_path / "results"
    base = ["--home", str(home), "eval", "gym", "--families", "count_primes", "--train-size", "1", "--dev-size", "1",
            "--seed", "5", "--arms", "frozen", "--no-progress", "--resamples", "50", "--publish-dir", str(pub)]
    assert main([*base, "--name", "quiet", "--publish", "quiet"]) == 0
    quiet = json.loads((pub / "quiet.json").read_text())["train"]
    assert "reason" not in quiet and "concept_trials" not in quiet and quiet["verified"] == 0
    assert main([*base, "--name", "reasons", "--train-reason", "--publish", "reasons"]) == 0
    train = json.loads((pub / "reasons.json").read_text())["train"]
    assert train["reason"] is True and train["verified"] == 1
    [trial] = train["concept_trials"]
    assert (trial["concept"], trial["with"], trial["without"], trial["n"], trial["admitted"]) == (
        "sieve of eratosthenes", 8, 0, 8, True)


def test_training_can_start_from_a_snapshot_and_the_new_snapshot_holds_both(tmp_path, fake_engine, capsys):
    """``--train-from``: a second training grows a memory learned once instead of starting empty; the new
    snapshot names where it started, and a snapshot that does not exist is refused before anything runs."""
    import sqlite3

    from agent.evaluation.snapshot import DB_FILE, MANIFEST

    home = tmp_path / "home"
    base = ["--home", str(home), "eval", "math", "--generate", "12", "--dev-size", "4", "--no-progress",
            "--resamples", "200", "--arms", "frozen"]
    assert main([*base, "--name", "first", "--train-limit", "3"]) == 0
    first = home / "snapshots" / "first-train"

    def rows(snapshot: Path) -> set[tuple[str, str]]:
        with sqlite3.connect(snapshot / DB_FILE) as db:
            return {(r[0], r[1]) for r in db.execute("select name, created_at from concepts")} | {
                (r[0], r[1]) for r in db.execute("select question, created_at from subroutines")}

    learned = rows(first)
    assert learned
    capsys.readouterr()
    assert main([*base, "--name", "second", "--train-from", "first-train"]) == 0
    assert "starting from snapshot first-train" in capsys.readouterr().err
    second = home / "snapshots" / "second-train"
    assert learned <= rows(second)  # the very rows, not the same ones learned again
    manifest = json.loads((second / MANIFEST).read_text())
    assert manifest["source"]["train_from"] == "first-train"
    assert "train_from" not in json.loads((first / MANIFEST).read_text())["source"]

    assert main([*base, "--name", "third", "--train-from", "nothing"]) == 1
    assert "snapshot 'nothing' not found" in capsys.readouterr().err


def test_a_gym_report_scores_stored_answers_again_with_the_current_scorer(tmp_path, fake_engine, capsys):
    """An answer the scorer once got wrong (``\\text{Sunday}``, scored against "Sunday") is right in the next report,
    which names it; the stored episode stays as it was solved."""
    import sqlite3

    from tools.tasks import gym

    home = tmp_path / "home"
    args = ["--home", str(home), "eval", "gym", "--families", "calendar_arithmetic", "--train-size", "0",
            "--dev-size", "2", "--seed", "3", "--arms", "plain", "--no-progress", "--resamples", "50", "--name", "c"]
    assert main(args) == 0
    dev = gym.problems("calendar_arithmetic", 1003, 2)
    with sqlite3.connect(home / "mnemos.db") as db:  # as an older scorer stored it
        db.execute("update episodes set answer = ?, score = 0.0 where run_id = 'c-plain' and problem_id = ?",
                   (f"\\text{{{dev[0].gold}}}", dev[0].id))
    capsys.readouterr()
    assert main(args) == 0
    assert f"plain: 1 stored answer(s) scored otherwise by the current scorer: {dev[0].id}" in capsys.readouterr().out
    result = json.loads((home / "runs" / "c" / "eval.json").read_text())
    assert result["scores"]["plain"][dev[0].id] == 1.0 and result["rescored"] == {"plain": [dev[0].id]}
    with sqlite3.connect(home / "mnemos.db") as db:
        assert db.execute("select score from episodes where run_id = 'c-plain' and problem_id = ?",
                          (dev[0].id,)).fetchone() == (0.0,)


def test_gym_answers_are_read_without_their_latex_typesetting() -> None:
    from tools.tasks.gym import plain_text, problems, score

    assert plain_text("\\text{Sunday}") == plain_text("$\\text{Sunday}$") == "Sunday"
    assert plain_text("$12$") == "12" and plain_text("(8 \\times 3) \\div 1") == "(8 * 3) / 1"
    assert plain_text("a \\text{b} c") == "a \\text{b} c"  # only a wrapper around the whole answer goes
    [day] = problems("calendar_arithmetic", 1000, 1)
    assert score(day, f"\\text{{{day.gold}}}") == score(day, day.gold) == 1.0
    assert score(day, "\\text{Someday}") == 0.0


def test_a_rerun_that_only_reports_keeps_the_arms_times_and_adds_no_machine(tmp_path, fake_engine, monkeypatch):
    """After an archive is loaded elsewhere, the arms' batch summaries are gone: the report keeps the wall times
    measured where they ran, and the machine that only wrote the report is not listed as one that solved."""
    import shutil

    from agent.evaluation import machine

    home = tmp_path / "home"
    args = ["--home", str(home), "eval", "math", "--generate", "10", "--dev-size", "4", "--no-progress",
            "--resamples", "100", "--arms", "plain", "--name", "w"]
    assert main(args) == 0
    first = json.loads((home / "runs" / "w" / "eval.json").read_text())
    assert first["arms"]["plain"]["wall_seconds"] > 0 and len(first["machines"]) == 1
    shutil.rmtree(home / "runs" / "w-plain")  # as `mnemos archive load` leaves it
    other = machine.this_machine().model_copy(update={"cpu": "Another CPU"})
    monkeypatch.setattr(machine, "this_machine", lambda *a: other)
    assert main(args) == 0
    again = json.loads((home / "runs" / "w" / "eval.json").read_text())
    assert again["arms"]["plain"]["wall_seconds"] == first["arms"]["plain"]["wall_seconds"]
    assert again["machines"] == first["machines"]
    assert len(fake_engine) == 1  # nothing was solved again

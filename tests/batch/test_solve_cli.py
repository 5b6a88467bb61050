"""`mnemos solve` and the session wiring, through the real Controller on a scripted model."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from agent.batch.report import load_summary
from agent.batch.session import controller_solver, solve_set
from agent.cli import main
from agent.commands.solve import load_problems
from tools.tasks.mathgen import generate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fakes import ScriptedGenerator


def _oracle(problems):
    """A scripted model that answers from the problem text: right for even-numbered problems."""
    answers = {p.prompt: (p.gold if int(p.id[-1]) % 2 == 0 else "123456") for p in problems}

    def fn(prompt, params):
        for question, answer in answers.items():
            if question in prompt:
                return f"Let me think. <answer>{answer}</answer>"
        return "<answer>0</answer>"

    return ScriptedGenerator(fn)


class _Memory:
    def __init__(self, episodes):
        self.episodes = episodes
        self.closed = False

    def close(self):
        self.closed = True


def test_solve_set_runs_the_controller_and_saves_a_summary(settings, episode_store):
    settings = settings.model_copy(update={"memory_mode": "off"})
    problems = generate(4, seed=1)
    llm = _oracle(problems)
    summary = solve_set(problems, settings, "sess", concurrency=2, progress=False, llm=llm, memory=_Memory(episode_store))
    assert (summary.finished, summary.solved, summary.errors) == (4, 2, 0)
    assert summary.generated_tokens > 0 and summary.prompt_tokens > 0
    e = episode_store.find("sess", problems[0].id)
    assert e.verdict == "correct" and e.trace["memory_mode"] == "off" and e.trace["thread_id"] == f"sess:{problems[0].id}"
    assert load_summary("sess", settings.runs_dir) == summary


def test_controller_solver_lends_each_problem_in_flight_its_own_controller(settings, monkeypatch):
    import asyncio

    from agent.controller.controller import Controller

    problems = generate(3)
    used: list[tuple[str, int]] = []
    real_asolve = Controller.asolve

    async def asolve(self, problem, **kw):
        used.append((problem.id, id(self)))
        await asyncio.sleep(0.05)  # all three are in flight together
        return await real_asolve(self, problem, **kw)

    monkeypatch.setattr(Controller, "asolve", asolve)
    solve = controller_solver(_oracle(problems), None, settings.model_copy(update={"memory_mode": "off"}), "r")

    async def run_all():
        return await asyncio.gather(*(solve(p, None) for p in problems))

    results = asyncio.run(run_all())
    assert [r.problem_id for r in results] == [p.id for p in problems]
    assert len({c for _, c in used}) == 3  # no two concurrent problems shared a controller (per-problem caches)
    assert results[0].trace.thread_id == f"r:{problems[0].id}"


def test_cli_solve_math_generate_then_resume(tmp_path, monkeypatch, capsys):
    import agent.engine

    problems = generate(3, seed=0)
    monkeypatch.setattr(agent.engine.Engine, "from_settings", classmethod(lambda cls, s, **kw: _oracle(problems)))
    home = tmp_path / "home"
    args = ["--home", str(home), "solve", "math", "--generate", "3", "--run-id", "g", "--memory-mode", "off", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "g" in out and "3/3" in out
    summary = json.loads((home / "runs" / "g" / "summary.json").read_text())
    assert summary["solved"] == 2 and summary["memory_mode"] == "off"
    assert main(args) == 0
    assert json.loads((home / "runs" / "g" / "summary.json").read_text())["resumed"] == 3


def _ns(**kw):
    base = {"solve_kind": "math", "file": None, "generate": None, "seed": 0, "limit": None, "dir": None,
            "arc_version": 1, "split": "evaluation"}
    return argparse.Namespace(**{**base, **kw})


def test_load_problems_variants(tmp_path, capsys):
    probs, label = load_problems(_ns(solve_kind="arc", limit=5))
    assert len(probs) == 5 and label == "arc1-evaluation" and probs[0].domain == "arc"
    probs, label = load_problems(_ns(solve_kind="arc", arc_version=2, split="training", limit=2))
    assert len(probs) == 2 and label == "arc2-training"
    good = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[1]], "output": [[2]]}]}
    (tmp_path / "a.json").write_text(json.dumps(good))
    (tmp_path / "b.json").write_text("{oops")
    probs, _ = load_problems(_ns(solve_kind="arc", dir=tmp_path))
    assert [p.id for p in probs] == ["a"]
    assert "skipped malformed task b.json" in capsys.readouterr().err
    with pytest.raises(ValueError, match="either a JSONL FILE or --generate"):
        load_problems(_ns())
    with pytest.raises(ValueError, match="--limit"):
        load_problems(_ns(generate=3, limit=0))
    probs, label = load_problems(_ns(generate=7, limit=4))
    assert len(probs) == 4 and label == "mathgen0"


def test_cli_errors_are_clean(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "solve", "math", str(tmp_path / "missing.jsonl")]) == 1
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "#### 1"}\n{"foo": 1}\n')
    assert main(["--home", str(tmp_path), "solve", "math", str(bad)]) == 1
    assert "bad.jsonl:2:" in capsys.readouterr().err

"""`mnemos eval game24` on a scripted model: a procedure learned on train solves dev; scaffold shows what memory did."""

from __future__ import annotations

import json

import pytest

from agent.cli import main
from tests.controller.conftest import HashEncoder
from tests.controller.programs24 import CORRECT, LOOKUP
from tests.fakes import ScriptedGenerator
from tools.sandbox.run import sandbox_problem


def game24_model() -> ScriptedGenerator:
    """Greedy writes no program; one sampled program in two is a correct solver, the other a lookup table.
    Reasoning (plain, off, scaffold) always ends in a wrong expression."""

    def reply(prompt, params):
        if "Write a Python function" in prompt:
            return "I would loop." if params.temperature == 0 else (CORRECT if (params.seed or 0) % 2 else LOOKUP)
        if params.choice:
            return params.choice[0]
        return "Let me try. \\boxed{1+2+3+4}"

    return ScriptedGenerator(reply)


@pytest.mark.skipif(sandbox_problem() is not None, reason=f"procedures run in the jail: {sandbox_problem()}")
def test_eval_game24_learns_a_procedure_and_frozen_beats_the_scaffold(tmp_path, monkeypatch, capsys):
    import agent.engine
    import retrieval.embedder

    started: list[ScriptedGenerator] = []
    monkeypatch.setattr(agent.engine.Engine, "from_settings",
                        classmethod(lambda cls, settings, **kw: started.append(game24_model()) or started[-1]))
    monkeypatch.setattr(retrieval.embedder, "Embedder", lambda *a, **kw: HashEncoder())
    home, pub = tmp_path / "home", tmp_path / "results"
    args = ["--home", str(home), "eval", "game24", "--small", "--no-progress", "--name", "g", "--resamples", "500",
            "--arms", "plain,off,scaffold,frozen,learning", "--train-concurrency", "1", "--train-verify", "domain",
            "--publish", "g24", "--publish-dir", str(pub)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "scaffold" in out and len(started) == 1
    report = json.loads((pub / "g24.json").read_text())
    arms = report["arms"]
    assert arms["plain"]["solved"] == arms["off"]["solved"] == arms["scaffold"]["solved"] == 0
    assert arms["frozen"]["solved"] == arms["learning"]["solved"] == report["n"] == 4
    # the learning arm started empty and wrote its own procedure on the dev stream
    assert arms["learning"]["memory_written"]["procedures"] >= 1
    assert report["learning_thirds"] == [1.0, 1.0, 1.0] and report["thirds"]["plain"] == [0.0, 0.0, 0.0]
    assert arms["frozen"]["delta_vs_scaffold"] == 1.0 and arms["frozen"]["memory_unchanged"] is True
    assert arms["frozen"]["generated_tokens_per_problem"] == 0  # each answer came from the stored procedure
    assert arms["frozen"]["memory"]["procedures_used"]["problems"] == 1.0
    assert arms["scaffold"]["memory"]["procedures_offered"]["count"] == 0
    learned = report["train"]["procedures"]
    assert learned["general"] >= 1 and learned["greedy_solved"] == 0
    assert learned["tokens_by_quarter"][0] > 0 and learned["tokens_by_quarter"][-1] == 0  # learning cost falls
    assert report["snapshot"]["counts"]["procedures"] == 1  # the lookup table was never admitted

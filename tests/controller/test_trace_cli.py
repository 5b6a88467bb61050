"""`mnemos trace show` on a controller thread and on a stored episode."""

from __future__ import annotations

from agent.cli import main
from agent.controller import Controller
from memory.schemas import Episode
from tests.fakes import ScriptedGenerator
from tools.problem import Problem


def test_trace_show_thread_and_episode(make_settings, hash_encoder, capsys, monkeypatch):
    settings = make_settings(prime_recall=False)
    monkeypatch.setenv("MNEMOS_HOME", str(settings.home))
    llm = ScriptedGenerator(["<recall>blue vault</recall>", "<answer>412</answer>"])
    problem = Problem(id="p-cli", prompt="How many maps?", context="The blue vault holds 412 maps. Rain fell.")
    res = Controller(llm, None, settings, embedder=hash_encoder).solve(
        problem, thread_id="cli-thread")

    assert main(["trace", "show", "cli-thread"]) == 0
    out = capsys.readouterr().out
    assert "problem p-cli" in out and "think > recall > think" in out
    assert "The blue vault holds 412 maps." in out

    from memory import open_memory

    with open_memory(settings.db_url, settings.index_dir, hash_encoder) as m:
        [ep] = m.episodes.add_many([Episode(problem_id="p-cli", input=problem.prompt, answer=res.answer,
                                            trace=res.trace.model_dump(mode="json"))])
    assert main(["trace", "show", str(ep.id)]) == 0
    assert "attempt 0: answer '412'" in capsys.readouterr().out

    assert main(["trace", "show", "nope"]) == 1
    assert "no episode or controller thread" in capsys.readouterr().err

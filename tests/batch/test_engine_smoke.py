"""Real engine smoke run: generated math problems and small ARC tasks through the controller, concurrently."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.batch.session import solve_set
from tools import arc
from tools.mathgen import generate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "arc_tasks"


class _Memory:
    def __init__(self, episodes):
        self.episodes = episodes

    def close(self):
        pass


@pytest.mark.engine
def test_real_engine_batch_writes_scored_episodes(engine, settings, episode_store):
    settings = settings.model_copy(update={"memory_mode": "off", "max_retries": 1, "max_segments": 2, "segment_tokens": 96,
                                           "trace_budget_tokens": 400})
    problems = generate(3, seed=11) + [arc.to_problem(t, "examples") for t in arc.load_dir(EXAMPLES).tasks[:2]]
    summary = solve_set(problems, settings, "smoke", concurrency=len(problems), progress=False, llm=engine,
                        memory=_Memory(episode_store))
    assert summary.finished == len(problems) and summary.errors == 0, summary
    assert summary.generated_tokens > 0
    for p in problems:
        e = episode_store.find("smoke", p.id)
        assert e.verdict in ("correct", "wrong") and 0.0 <= e.score <= 1.0
        assert e.generated_tokens > 0 and e.trace["memory_mode"] == "off"
        assert e.trace["end_reason"]


@pytest.mark.engine
def test_real_engine_gold_verification_checks_every_math_answer(engine, settings, episode_store):
    """Math has no gold-free check: only with verify="gold" do its answers get verdicts (and can write memory)."""
    from tools.domains import GoldVerifier

    settings = settings.model_copy(update={"memory_mode": "off", "max_retries": 1, "max_segments": 2, "segment_tokens": 96,
                                           "trace_budget_tokens": 400})
    problems = generate(2, seed=5)
    summary = solve_set(problems, settings, "gold", concurrency=2, progress=False, llm=engine,
                        memory=_Memory(episode_store), verify="gold")
    assert summary.errors == 0 and summary.verify == "gold"
    checked = 0
    for p in problems:
        e = episode_store.find("gold", p.id)
        assert e.trace["verify"] == "gold"
        for attempt in e.trace["attempts"]:
            if attempt["answer"]:
                assert attempt["verdict"]["ok"] == GoldVerifier(p)(attempt["answer"]).ok
                checked += 1
    assert checked > 0, "the model never produced an answer to verify"

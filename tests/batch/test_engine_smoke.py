"""Real engine smoke run: generated math problems and small ARC tasks through the controller, concurrently."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.batch.session import solve_set
from agent.config import Budgets
from tools.tasks import arc
from tools.tasks.mathgen import generate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "arc_tasks"
SMALL = Budgets(retries=1, segments=2, segment_tokens=96, tokens=400)


class _Memory:
    def __init__(self, episodes):
        self.episodes = episodes

    def close(self):
        pass


@pytest.mark.engine
def test_real_engine_batch_writes_scored_episodes(engine, settings, episode_store):
    settings = settings.model_copy(update={"memory_mode": "off", "budgets": SMALL})
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
        if p.domain == "math":  # math has no gold-free check: under verify=domain no attempt gets a verdict
            assert all(a["verdict"] is None for a in e.trace["attempts"])


@pytest.mark.engine
def test_real_engine_gold_verification_checks_every_math_answer(engine, settings, episode_store):
    """Math has no gold-free check: only with verify="gold" do its answers get verdicts (and can write memory)."""
    settings = settings.model_copy(update={"memory_mode": "off", "budgets": SMALL})
    problems = generate(2, seed=5)
    summary = solve_set(problems, settings, "gold", concurrency=2, progress=False, llm=engine,
                        memory=_Memory(episode_store), verify="gold")
    assert summary.errors == 0 and summary.verify == "gold"
    checked = 0
    for p in problems:
        e = episode_store.find("gold", p.id)
        attempts = e.trace["attempts"]
        assert e.trace["verify"] == "gold" and attempts
        for i, attempt in enumerate(attempts):
            verdict = attempt["verdict"]
            assert verdict is not None, "gold verification gives every attempt a verdict"
            checked += 1
            if not verdict["ok"]:
                assert "reference answer" in verdict["feedback"] or not attempt["answer"]
                assert i < len(attempts) - 1 or len(attempts) == SMALL.retries + 1, "a rejection is retried"
        # the controller's verdict (GoldVerifier) and the runner's score (domain scoring of the final attempt)
        # are computed on separate paths; they must agree on the final answer
        assert attempts[-1]["verdict"]["ok"] == (e.score == 1.0)
    assert checked >= len(problems)

"""Made-up evaluations of any size, for the HTML report's tests and its benchmark.

A real evaluation takes hours of model time; the page's size limits, escaping and speed
at 1,000 problems are checked on these instead. They live here rather than in the tests
so that ``benchmarks/html_report.py`` times the same evaluation the tests check without
importing the test suite.
"""

from __future__ import annotations

from typing import Any

from agent.evaluation.report import EvalReport, arm_result
from memory.schemas import Episode
from tools.domains.split import SplitRecord


def synthetic_episode(run: str, pid: str, score: float, trace: dict[str, Any], text: str = "") -> Episode:
    """One finished episode: ``score`` >= 1 is correct, 10 prompt and 5 generated tokens, one second."""
    return Episode(run_id=run, problem_id=pid, input=text or f"problem {pid}", score=score, answer=str(score),
                   verdict="correct" if score >= 1 else "wrong", trace=trace, prompt_tokens=10, generated_tokens=5,
                   seconds=1.0)


def frozen_trace(ok: bool, proc: int = 7) -> dict[str, Any]:
    """A memory arm's trace that offered, used and ran procedure ``proc``; ``ok`` is whether its answer held."""
    return {"path": ["procedures"], "procedures_offered": [proc], "procedures_used": [proc],
            "tool_calls": [{"node": "procedures", "kind": "apply_procedure", "input": "solve[[1]]",
                            "output": "x" if ok else "None", "ok": ok, "ids": [proc]}], "end_reason": "procedure"}


def synthetic_evaluation(n: int, text: str = "", plain_text: str = "thinking"
                         ) -> tuple[EvalReport, dict[str, list[Episode]]]:
    """An evaluation ``e`` of ``n`` problems where frozen solves the even ones and plain the ones divisible by
    three; ``text`` is every problem's text and ``plain_text`` every plain output (long ones make a heavy page)."""
    ids = [f"p{i}" for i in range(n)]
    episodes = {
        "plain": [synthetic_episode("e-plain", p, float(i % 3 == 0),
                                    {"arm": "plain", "text": plain_text, "finish_reason": "stop"}, text)
                  for i, p in enumerate(ids)],
        "frozen": [synthetic_episode("e-frozen", p, float(i % 2 == 0), frozen_trace(i % 2 == 0), text)
                   for i, p in enumerate(ids)],
    }
    arms = {arm: arm_result(arm, f"e-{arm}", eps, episodes["plain"], resamples=200, seed=0)
            for arm, eps in episodes.items()}
    report = EvalReport(name="e", kind="game24", model="m", n=n, arms=arms,
                        split=SplitRecord(kind="game24", method="seeded", dev_ids=ids),
                        groups={"family": {"a": {"n": 2.0, "plain": 0.5, "frozen": 1.0}}},
                        settings={"model": "m", "budgets": {"tokens": 512}})
    return report, episodes

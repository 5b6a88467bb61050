"""The batch runner: concurrency, per-problem failures, resume (also after a hard kill), Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest
from batch_standins import FakeResult, answer_gold

from agent.batch.runner import BatchConfig, run_batch
from tools.problem import Problem
from tools.tasks import arc
from tools.tasks.mathgen import generate

HERE = Path(__file__).parent


def _cfg(**kw) -> BatchConfig:
    return BatchConfig(**{"run_id": "r1", "progress": False, **kw})


def test_episodes_are_scored_and_written(episode_store):
    problems = generate(6)
    summary = run_batch(problems, answer_gold, episode_store, _cfg(memory_mode="frozen"))
    assert (summary.total, summary.finished, summary.errors, summary.solved) == (6, 6, 0, 3)
    assert summary.score == pytest.approx(0.5)
    assert summary.generated_tokens == 30 and summary.prompt_tokens == 60
    for p in problems:
        e = episode_store.find("r1", p.id)
        right = p.id[-1] in "02468"
        assert e.verdict == ("correct" if right else "wrong") and e.score == float(right)
        assert e.input == p.prompt and e.domain == "math"
        assert e.trace["memory_mode"] == "frozen" and e.trace["scored_answers"] == [e.answer]


def test_problems_run_concurrently(episode_store):
    barrier = threading.Barrier(3, timeout=5)

    def solver(problem, verifier):
        barrier.wait()  # only passes if three problems are in flight at once
        return answer_gold(problem, verifier)

    summary = run_batch(generate(6), solver, episode_store, _cfg(concurrency=3))
    assert summary.finished == 6 and summary.errors == 0


def test_async_solvers_run_as_tasks_bounded_by_concurrency(episode_store):
    """Async solvers share the runner's loop; at most ``concurrency`` are in flight, and slots refill at once."""
    import asyncio

    problems = generate(8)
    live, peak, order = 0, 0, []
    others_done = asyncio.Event()

    async def solver(problem, verifier):
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0.01)
        if problem.id == problems[0].id:  # the first problem holds its slot until every other one has finished
            await asyncio.wait_for(others_done.wait(), timeout=10)
        live -= 1
        order.append(problem.id)
        if len(order) == len(problems) - 1:
            others_done.set()
        return answer_gold(problem, verifier)

    summary = run_batch(problems, solver, episode_store, _cfg(concurrency=3))
    assert summary.finished == 8 and summary.errors == 0 and summary.solved == 4
    assert peak == 3
    assert order[-1] == problems[0].id


def test_failures_are_recorded_and_the_batch_goes_on(episode_store):
    def solver(problem, verifier):
        if problem.id.endswith("1"):
            raise RuntimeError("engine exploded")
        if problem.id.endswith("2"):
            return "not a result"  # no attributes: scored as no answer
        return answer_gold(problem, verifier)

    problems = generate(5)
    summary = run_batch(problems, solver, episode_store, _cfg(concurrency=2))
    assert summary.finished == 5 and summary.errors == 1
    bad = episode_store.find("r1", problems[1].id)
    assert bad.verdict == "error" and "engine exploded" in bad.trace["error"] and "RuntimeError" in bad.trace["traceback"]
    empty = episode_store.find("r1", problems[2].id)
    assert empty.verdict == "wrong" and empty.answer is None
    assert episode_store.find("r1", problems[4].id).verdict == "correct"


def test_sandbox_escapes_in_arc_programs_are_failed_attempts(episode_store):
    task = arc.ArcTask(id="t0", train=[{"input": [[1, 2]], "output": [[2, 1]]}], test=[{"input": [[3, 4]], "output": [[4, 3]]}])
    problems = [arc.to_problem(task.model_copy(update={"id": f"t{i}"})) for i in range(4)]
    programs = {
        "t0": "```python\ndef transform(g):\n    return [r[::-1] for r in g]\n```",
        "t1": "```python\nimport os\ndef transform(g):\n    os.fork()\n    return g\n```",
        "t2": "```python\ndef transform(g):\n    while True:\n        pass\n```",
        "t3": "```python\ndef transform(g):\n    open('/tmp/mnemos-escape', 'w')\n    return g\n```",
    }
    seen = {}

    def solver(problem, verifier):
        seen[problem.id] = verifier(programs[problem.id])
        return FakeResult(problem_id=problem.id, answer=programs[problem.id])

    summary = run_batch(problems, solver, episode_store, _cfg(concurrency=2))
    assert summary.finished == 4 and summary.errors == 0 and summary.solved == 1
    assert seen["t0"].ok and not any(seen[k].ok for k in ("t1", "t2", "t3"))
    assert "forbidden" in seen["t1"].feedback and "timeout" in seen["t2"].feedback and "forbidden" in seen["t3"].feedback
    assert not os.path.exists("/tmp/mnemos-escape")


def test_resume_skips_finished_and_retries_errors(episode_store):
    problems = generate(4)
    calls: list[str] = []

    def flaky(problem, verifier):
        calls.append(problem.id)
        if problem.id == problems[3].id:
            raise RuntimeError("transient")
        return answer_gold(problem, verifier)

    first = run_batch(problems, flaky, episode_store, _cfg())
    assert first.errors == 1
    calls.clear()
    second = run_batch(problems, answer_gold_logged(calls), episode_store, _cfg())
    assert calls == [problems[3].id]
    assert second.resumed == 3 and second.finished == 4 and second.errors == 0
    calls.clear()
    third = run_batch(problems, answer_gold_logged(calls), episode_store, _cfg(retry_errors=False))
    assert calls == [] and third.resumed == 4
    other = run_batch(problems, answer_gold_logged(calls), episode_store, _cfg(run_id="r2"))
    assert len(calls) == 4 and other.resumed == 0


def answer_gold_logged(calls):
    def solve(problem, verifier):
        calls.append(problem.id)
        return answer_gold(problem, verifier)

    return solve


def test_ctrl_c_stops_cleanly_and_keeps_finished_work(episode_store):
    problems = generate(8)
    written = []

    def on_episode(e):
        written.append(e.problem_id)
        if len(written) == 2:
            raise KeyboardInterrupt

    summary = run_batch(problems, partial(answer_gold, delay=0.05), episode_store, _cfg(concurrency=2),
                        on_episode=on_episode)
    assert summary.interrupted and summary.finished == 2
    assert all(episode_store.find("r1", pid) is not None for pid in written)
    rest = run_batch(problems, answer_gold, episode_store, _cfg())
    assert rest.resumed == 2 and rest.finished == 8 and not rest.interrupted


def test_duplicate_ids_are_rejected(episode_store):
    p = Problem(id="same", domain="math", prompt="1+1", gold="2")
    with pytest.raises(ValueError, match="unique"):
        run_batch([p, p], answer_gold, episode_store, _cfg())


def test_resume_after_hard_kill(tmp_path, db_url, episode_store):
    log = tmp_path / "started.log"
    n = 12
    cmd = [sys.executable, str(HERE / "kill_target.py"), db_url, str(log), "killed-run", str(n)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while episode_store.count("killed-run") < 3:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "runner made no progress"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished_before = {e.problem_id for e in episode_store.list(run_id="killed-run")}
    assert 3 <= len(finished_before) < n
    log.write_text("")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=True)
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    resolved = set(log.read_text().split())
    assert resolved.isdisjoint(finished_before)
    assert resolved | finished_before == {p.id for p in generate(n, seed=7)}
    assert summary["resumed"] == len(finished_before) and summary["finished"] == n and summary["score"] == 1.0
    assert episode_store.count("killed-run") == n


def test_episode_keeps_the_controllers_attempt_records() -> None:
    """The scored answers are stored beside the trace's own attempt records, not over them."""
    from agent.batch.runner import BatchConfig
    from agent.episodes import episode_from_result
    from agent.controller.state import AttemptRecord, SolveResult, Trace
    from tools.problem import Verdict
    from tools.tasks.mathgen import generate

    problem = generate(1)[0]
    trace = Trace(problem_id=problem.id, attempts=[AttemptRecord(index=0, answer="7", end_reason="answer",
                                                                 verdict=Verdict(ok=False, feedback="off by one"))])
    result = SolveResult(problem_id=problem.id, answer="8", attempts=["7", "8"], end_reason="verified", trace=trace)
    episode = episode_from_result(problem, result, BatchConfig(run_id="r"), 1.0)
    assert episode.trace["attempts"][0]["verdict"]["feedback"] == "off by one"
    assert episode.trace["scored_answers"] == ["7", "8"]


def test_gold_verification_reaches_the_solver_and_is_recorded(episode_store):
    seen = {}

    def solver(problem, verifier):
        seen[problem.id] = verifier(f"<answer>{problem.gold}</answer>").ok
        return answer_gold(problem, verifier)

    problems = generate(3)
    summary = run_batch(problems, solver, episode_store, _cfg(verify="gold"))
    assert seen == {p.id: True for p in problems}
    assert summary.verify == "gold"
    assert all(episode_store.find("r1", p.id).trace["verify"] == "gold" for p in problems)

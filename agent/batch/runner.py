"""Run a solver over many problems at once, writing one episode per problem as it finishes.

Problems run as asyncio tasks, at most ``concurrency`` at a time, so every
model request they make is in the engine's continuous batch the moment it is
made and returns the moment it ends. Async solvers (``Controller.asolve``) run
on the runner's loop; plain functions run in daemon threads. Episodes are
written one at a time, in a worker thread so a write waiting on a database lock
does not stall the solves. Ctrl-C returns at once: whatever was written stays
written, and a rerun with the same run id picks up the problems that have no
episode yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from pydantic import BaseModel, Field

from agent.blocking import blocking
from agent.config import MemoryMode
from agent.episodes import (
    EpisodeSink,
    RunLabels,
    awrite_episode,
    episode_from_result,
    error_episode,
)
from memory.schemas import Episode
from tools.domains import VerifyMode, verifier_for
from tools.problem import Problem, Verifier

log = logging.getLogger(__name__)

Solver = Callable[[Problem, Verifier | None], Any] | Callable[[Problem, Verifier | None], Awaitable[Any]]
"""``(problem, verifier) -> SolveResult``-like, plain or ``async``: any object with ``answer``, ``attempts``,
``end_reason``, ``prompt_tokens``, ``generated_tokens``, ``seconds`` and ``trace`` attributes."""


class BatchConfig(RunLabels):
    concurrency: int | None = Field(None, gt=0, description="Problems in flight at once; None = all of them "
                                    "(the session sets it from the KV budget planner).")
    retry_errors: bool = Field(True, description="On resume, rerun problems whose last episode is an error.")
    progress: bool = True


class BatchSummary(BaseModel):
    """Totals over every problem of the run, including ones finished by earlier (resumed) invocations."""

    run_id: str
    memory_mode: MemoryMode
    verify: VerifyMode = "domain"
    domain: str = ""
    total: int = 0
    finished: int = 0
    resumed: int = Field(0, description="Problems skipped because an earlier invocation finished them.")
    errors: int = 0
    solved: int = 0
    score: float = Field(0.0, description="Mean score over finished problems.")
    prompt_tokens: int = 0
    generated_tokens: int = 0
    seconds: float = Field(0.0, description="Sum of per-problem solve times.")
    wall_seconds: float = Field(0.0, description="Wall time of this invocation.")
    wall_seconds_total: float = Field(0.0, description="Wall time of every invocation of this run so far "
                                      "(a resumed run adds to it); written by save_summary.")
    interrupted: bool = False


async def _solve_one(problem: Problem, solver: Solver, config: BatchConfig) -> Episode:
    t0 = time.perf_counter()
    try:
        verifier = verifier_for(problem, config.verify)
        if inspect.iscoroutinefunction(solver):
            result = await solver(problem, verifier)
        else:
            result = await _in_daemon_thread(solver, problem, verifier)
        return episode_from_result(problem, result, config, time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - one problem's failure is recorded, the batch goes on
        log.warning("problem %s failed: %s", problem.id, exc)
        return error_episode(problem, exc, config, time.perf_counter() - t0)


def _in_daemon_thread(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """``fn(*args)`` in a daemon thread, so an interrupted batch never waits for a plain solver to finish."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def deliver(ok: bool, value: Any) -> None:
        if not fut.done():
            fut.set_result(value) if ok else fut.set_exception(value)

    def run() -> None:
        try:
            outcome = (True, fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop is gone: the batch was interrupted
            loop.call_soon_threadsafe(deliver, *outcome)

    threading.Thread(target=run, name=f"mnemos-solve-{getattr(args[0], 'id', '')}", daemon=True).start()
    return fut


def _is_done(found: Episode | None, config: BatchConfig) -> bool:
    return found is not None and not (config.retry_errors and found.verdict == "error")


class _Tally:
    def __init__(self, summary: BatchSummary):
        self.s = summary
        self.score_sum = 0.0

    def add(self, e: Episode) -> None:
        s = self.s
        s.finished += 1
        s.errors += e.verdict == "error"
        s.solved += e.verdict == "correct"
        self.score_sum += e.score
        s.score = self.score_sum / s.finished
        s.prompt_tokens += e.prompt_tokens
        s.generated_tokens += e.generated_tokens
        s.seconds += e.seconds


async def arun_batch(
    problems: list[Problem],
    solver: Solver,
    store: EpisodeSink,
    config: BatchConfig,
    on_episode: Callable[[Episode], None] | None = None,
) -> BatchSummary:
    """Solve every problem that has no finished episode in ``config.run_id``; return the run's totals.

    Each episode is written as soon as its problem ends. KeyboardInterrupt (or cancelling this
    coroutine) ends the batch early with ``interrupted=True``; nothing written is lost.
    """
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise ValueError("problem ids must be unique within a batch")
    t_start = time.perf_counter()
    summary = BatchSummary(run_id=config.run_id, memory_mode=config.memory_mode, verify=config.verify, total=len(problems),
                           domain=",".join(sorted({p.domain for p in problems})))
    tally = _Tally(summary)
    todo: list[Problem] = []
    for p in problems:
        found = store.find(config.run_id, p.id)
        if _is_done(found, config):
            tally.add(found)
            summary.resumed += 1
        else:
            todo.append(p)

    slots = asyncio.Semaphore(config.concurrency or max(len(todo), 1))

    async def bounded(p: Problem) -> Episode:
        async with slots:
            return await _solve_one(p, solver, config)

    tasks = [asyncio.ensure_future(bounded(p)) for p in todo]
    gen_start = summary.generated_tokens
    with _progress(config, summary) as bar:
        try:
            for next_done in asyncio.as_completed(tasks):
                episode = await next_done
                await awrite_episode(store, episode)
                tally.add(episode)
                if on_episode is not None:
                    on_episode(episode)
                elapsed = time.perf_counter() - t_start
                bar.update(1)
                bar.set_postfix(score=f"{summary.score:.3f}", errors=summary.errors,
                                tok_s=f"{(summary.generated_tokens - gen_start) / max(elapsed, 1e-9):.1f}")
        except (KeyboardInterrupt, asyncio.CancelledError):
            summary.interrupted = True
            log.warning("interrupted: %d/%d problems finished and saved", summary.finished, summary.total)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    summary.wall_seconds = time.perf_counter() - t_start
    return summary


run_batch = blocking(arun_batch)


@contextlib.contextmanager
def _progress(config: BatchConfig, summary: BatchSummary) -> Iterator[Any]:
    from tqdm import tqdm

    bar = tqdm(total=summary.total, initial=summary.resumed, desc=config.run_id, unit="problem",
               disable=not config.progress, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()

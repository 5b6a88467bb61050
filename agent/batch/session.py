"""Wire the real parts for a batch: engine -> batching generator -> one controller per worker -> runner.

This is what ``mnemos solve`` and the Python API call; tests drive
:func:`agent.batch.runner.run_batch` directly with stand-in solvers.
"""

from __future__ import annotations

import threading
from typing import Any

from agent.batch.report import save_summary
from agent.batch.runner import BatchConfig, BatchSummary, Solver, run_batch
from agent.config import Settings
from agent.llm import TextGenerator
from tools.domains import VerifyMode
from tools.problem import Problem, Verifier


def controller_solver(llm: TextGenerator, memory: Any | None, settings: Settings, run_id: str) -> Solver:
    """A solver that gives each worker thread its own Controller (they keep per-problem caches).

    The LangGraph thread id is ``<run_id>:<problem_id>``, so a problem cut off
    mid-solve resumes from its last checkpoint when the run is resumed.
    """
    from agent.controller.checkpoint import default_checkpointer
    from agent.controller.controller import Controller

    checkpointer = default_checkpointer(settings)
    local = threading.local()
    use_memory = memory if settings.memory_mode != "off" else None
    learn = settings.memory_mode == "learning"

    def solve(problem: Problem, verifier: Verifier | None) -> Any:
        controller = getattr(local, "controller", None)
        if controller is None:
            controller = local.controller = Controller(llm, use_memory, settings, checkpointer)
        return controller.solve(problem, verifier=verifier, thread_id=f"{run_id}:{problem.id}", learn=learn)

    return solve


def solve_set(
    problems: list[Problem],
    settings: Settings,
    run_id: str,
    *,
    concurrency: int = 4,
    progress: bool = True,
    verify: VerifyMode = "domain",
    llm: TextGenerator | None = None,
    memory: Any | None = None,
    solver: Solver | None = None,
) -> BatchSummary:
    """Run the controller over ``problems`` as run ``run_id`` (resuming it if it exists) and save its summary."""
    from agent.batching import BatchingGenerator

    own_llm = llm is None
    if own_llm:
        from agent.engine import Engine

        llm = Engine.from_settings(settings)
    own_memory = memory is None
    if own_memory:
        from memory import open_memory

        memory = open_memory(settings.db_url, settings.index_dir)
    batcher = BatchingGenerator(llm)
    try:
        config = BatchConfig(run_id=run_id, memory_mode=settings.memory_mode, concurrency=concurrency, progress=progress,
                             verify=verify)
        solve = solver or controller_solver(batcher, memory, settings, run_id)
        summary = run_batch(problems, solve, memory.episodes, config, worker_context=batcher.worker)
        save_summary(summary, settings.runs_dir)
        return summary
    finally:
        batcher.close()
        if own_memory:
            memory.close()
        if own_llm:
            close = getattr(llm, "close", None)
            if close is not None:
                close()

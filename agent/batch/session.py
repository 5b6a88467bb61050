"""Wire the real parts for a batch: engine -> one controller per problem in flight -> async runner.

This is what ``mnemos solve`` and the Python API call; tests drive
:func:`agent.batch.runner.run_batch` directly with stand-in solvers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from agent.batch.concurrency import ConcurrencyPlan, planned_concurrency
from agent.batch.report import save_summary
from agent.batch.runner import BatchConfig, BatchSummary, Solver, arun_batch
from agent.blocking import blocking
from agent.config import Settings
from agent.llm import TextGenerator
from tools.domains import VerifyMode
from tools.problem import Problem, Verifier


class _ControllerPool:
    """Idle controllers to lend, one per problem in flight (they keep per-problem caches)."""

    def __init__(self, make: Any):
        self._make = make
        self._idle: list[Any] = []
        self._lock = threading.Lock()

    @contextmanager
    def lend(self) -> Iterator[Any]:
        with self._lock:
            controller = self._idle.pop() if self._idle else None
        controller = controller or self._make()
        try:
            yield controller
        finally:
            with self._lock:
                self._idle.append(controller)


def controller_solver(llm: TextGenerator, memory: Any | None, settings: Settings, run_id: str,
                      references: bool = False) -> Solver:
    """An async solver lending each problem a Controller of its own while it runs.

    The LangGraph thread id is ``<run_id>:<problem_id>``, so a problem cut off
    mid-solve resumes from its last checkpoint when the run is resumed. With ``references``
    (the set is checked against its gold answers anyway) a learning solve is also given
    the problem's gold answer to distill into a procedure.
    """
    from agent.controller.checkpoint import default_checkpointer
    from agent.controller.controller import Controller

    checkpointer = default_checkpointer(settings)
    use_memory = memory if settings.memory_mode != "off" else None
    learn = settings.memory_mode == "learning"
    pool = _ControllerPool(lambda: Controller(llm, use_memory, settings, checkpointer))

    def kwargs(problem: Problem, verifier: Verifier | None) -> dict[str, Any]:
        reference = str(problem.gold) if references and learn and problem.gold is not None else None
        return {"verifier": verifier, "thread_id": f"{run_id}:{problem.id}", "learn": learn, "reference": reference}

    async def solve(problem: Problem, verifier: Verifier | None) -> Any:
        with pool.lend() as controller:
            return await controller.asolve(problem, **kwargs(problem, verifier))

    return solve


async def asolve_set(
    problems: list[Problem],
    settings: Settings,
    run_id: str,
    *,
    concurrency: int | None = None,
    progress: bool = True,
    verify: VerifyMode = "domain",
    llm: TextGenerator | None = None,
    memory: Any | None = None,
    solver: Solver | None = None,
    on_plan: Callable[[ConcurrencyPlan], None] | None = None,
) -> BatchSummary:
    """Run the controller over ``problems`` as run ``run_id`` (resuming it if it exists) and save its summary.

    ``concurrency`` None means as many problems as the KV cache holds (:func:`planned_concurrency`);
    ``on_plan`` is shown that plan (the CLI prints it).
    """
    own_memory = memory is None
    if own_memory:
        from agent.memory_access import open_memory

        memory = open_memory(settings)  # before the engine: a bad store fails in a second, not after the model loads
    own_llm = llm is None
    try:
        if own_llm:
            from agent.engine import make_engine

            llm = make_engine(settings)
        if concurrency is None:
            plan = planned_concurrency(settings, llm)
            concurrency = plan.concurrency
            if on_plan is not None:
                on_plan(plan)
        config = BatchConfig(run_id=run_id, memory_mode=settings.memory_mode, concurrency=concurrency, progress=progress,
                             verify=verify)
        solve = solver or controller_solver(llm, memory, settings, run_id, references=verify == "gold")
        summary = await arun_batch(problems, solve, memory.episodes, config)
        save_summary(summary, settings.runs_dir)
        return summary
    finally:
        if own_memory:
            memory.close()
        if own_llm and llm is not None:  # the engine may have failed to start: its error is the one to show
            llm.close()


solve_set = blocking(asolve_set)

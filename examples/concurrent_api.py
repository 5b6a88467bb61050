"""The README's concurrent pattern, timed against ``solve_batch`` on the same long-context problems.

    .venv/bin/python examples/concurrent_api.py --model qwen2.5-coder-1.5b --problems 12
    .venv/bin/python examples/concurrent_api.py --model smollm2-135m --problems 4 --filler-tokens 500

Phase ``gather`` is the README example as written (a fresh ``async with Agent``, then
``asyncio.gather`` over ``asolve``); phase ``solve_batch`` is a fresh Agent's
``solve_batch``. Both wall times include the engine start, as a user's run would.
Each phase has its own empty memory (``memory_mode`` off by default), and the
engine processes are counted while it runs: the gather phase must show one.
Problems are the controller benchmark's RULER-style tasks (facts hidden in filler).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent import Agent
from agent.engine.watch import EngineWatch
from benchmarks.controller import is_correct, make_tasks
from tools.problem import Problem


class Phase(BaseModel):
    """One way of solving the problems: wall time from a fresh Agent to the last answer."""

    name: str
    seconds: float
    solved: int
    problems: int
    engines: int
    no_answer: int = 0


def problems(n: int, filler_tokens: int, seed: int) -> tuple[list[Problem], dict[str, str]]:
    tasks = make_tasks(n, filler_tokens, seed)
    return ([Problem(id=t.id, prompt=t.question, context=t.context) for t in tasks], {t.id: t.gold for t in tasks})


async def gather_phase(items: list[Problem], overrides: dict[str, Any]) -> list[str | None]:
    """The README's concurrent example, with the problems given as Problem objects."""
    async with Agent.from_config(**overrides) as agent:
        results = await asyncio.gather(*(agent.asolve(p) for p in items))
    return [r.answer for r in results]


def batch_phase(items: list[Problem], overrides: dict[str, Any]) -> list[str | None]:
    with Agent.from_config(**overrides) as agent:
        agent.solve_batch(items, "concurrent-api", progress=False)
        found = [agent.memory.episodes.find("concurrent-api", p.id) for p in items]
    return [e.answer if e is not None else None for e in found]


def timed(name: str, run: Callable[[], list[str | None]], items: list[Problem], gold: dict[str, str]) -> Phase:
    with EngineWatch() as watch:
        start = time.perf_counter()
        answers = run()
        seconds = time.perf_counter() - start
    solved = sum(is_correct(a, gold[p.id]) for a, p in zip(answers, items, strict=True))
    return Phase(name=name, seconds=round(seconds, 1), solved=solved, problems=len(items), engines=len(watch.cores),
                 no_answer=sum(a is None for a in answers))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="model name or checkpoint dir (default: the configured one)")
    ap.add_argument("--problems", type=int, default=12)
    ap.add_argument("--filler-tokens", type=int, default=3000, help="filler around the facts of each problem")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--memory-mode", default="off", choices=["off", "frozen", "learning"])
    ap.add_argument("--max-tokens", type=int, default=128, help="as in the README example")
    ap.add_argument("--only", choices=["gather", "solve_batch"], help="run one phase")
    ap.add_argument("--json", type=Path, help="also write the phases here")
    args = ap.parse_args()

    items, gold = problems(args.problems, args.filler_tokens, args.seed)
    runs: dict[str, Callable[[dict[str, Any]], list[str | None]]] = {
        "gather": lambda o: asyncio.run(gather_phase(items, o)),
        "solve_batch": lambda o: batch_phase(items, o),
    }
    phases = []
    for name, run in runs.items():
        if args.only not in (None, name):
            continue
        with tempfile.TemporaryDirectory(prefix=f"mnemos-{name}-") as home:
            overrides: dict[str, Any] = {"home": Path(home), "memory_mode": args.memory_mode,
                                         "max_tokens": args.max_tokens}
            if args.model:
                overrides["model"] = args.model
            phases.append(timed(name, functools.partial(run, overrides), items, gold))
        print(phases[-1].model_dump_json(), flush=True)

    print(f"\n{'phase':<12} {'wall s':>8} {'solved':>8} {'engines':>8}")
    for p in phases:
        print(f"{p.name:<12} {p.seconds:>8.1f} {p.solved:>4}/{p.problems:<3} {p.engines:>8}")
    if args.json:
        record = {"model": args.model or "default", "problems": args.problems, "filler_tokens": args.filler_tokens,
                  "max_tokens": args.max_tokens, "memory_mode": args.memory_mode,
                  "phases": [p.model_dump() for p in phases]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":  # vLLM starts its engine process with spawn
    main()

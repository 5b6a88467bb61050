"""Solve a few generated math problems and the example ARC tasks from Python, then print a report.

Run from the repository root: ``python examples/solve_api.py`` (uses the
embedded model unless ``MNEMOS_MODEL`` points at a local checkpoint).
"""

from pathlib import Path

from agent.batch.report import build_report, format_report, summary_report
from agent.batch.session import solve_set
from agent.config import Settings
from agent.engine import Engine
from tools import arc
from tools.mathgen import generate


def main() -> None:
    settings = Settings.load(memory_mode="off")
    tasks = arc.load_dir(Path(__file__).parent / "arc_tasks").tasks
    engine = Engine.from_settings(settings)  # one engine shared by both runs
    try:
        runs = [
            solve_set(generate(4, seed=0), settings, "example-math", concurrency=4, llm=engine),
            solve_set([arc.to_problem(t, "examples") for t in tasks], settings, "example-arc", concurrency=3, llm=engine),
        ]
    finally:
        engine.close()
    print(format_report(build_report([summary_report(s) for s in runs])))


if __name__ == "__main__":  # vLLM starts its engine process with spawn
    main()

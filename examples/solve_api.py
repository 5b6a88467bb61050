"""Use mnemos from Python: chat, solve one problem with recall, then solve two small sets and report.

Run from the repository root: ``.venv/bin/python examples/solve_api.py`` (uses the
embedded model unless ``MNEMOS_MODEL`` points at a local checkpoint). Data goes
to ``$MNEMOS_HOME`` (default ``~/.local/share/mnemos``).
"""

from pathlib import Path

from agent import Agent
from agent.batch.report import build_report, format_report, summary_report
from tools.tasks import arc
from tools.tasks.mathgen import generate


def main() -> None:
    with Agent.from_config(memory_mode="learning", max_tokens=128) as agent:
        print("chat:", agent.chat("Name one prime number."))
        result = agent.solve("Which city does Bruno live in?",
                             context="Ava lives in Oslo. The weather was mild. Bruno lives in Lima.")
        print("solve:", result.answer, "|", result.end_reason, "|", " > ".join(result.trace.path))
        tasks = arc.load_dir(Path(__file__).parent / "arc_tasks").tasks
        runs = [
            agent.solve_batch(generate(4, seed=0), "example-math"),
            agent.solve_batch([arc.to_problem(t, "examples") for t in tasks], "example-arc"),
        ]
    print(format_report(build_report([summary_report(s) for s in runs])))


if __name__ == "__main__":  # vLLM starts its engine process with spawn
    main()

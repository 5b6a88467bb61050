"""Turn the episodes of one or more runs into a table, a JSON file and a chart.

Episodes in the database are the source of truth (a killed run has no
summary file but has its episodes); the summary file the runner leaves in the
runs dir only adds what episodes cannot say, such as how many problems the
run was meant to cover.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from agent.batch.runner import BatchSummary
from memory.schemas import Episode

SUMMARY_FILE = "summary.json"


class EpisodeSource(Protocol):
    def list(self, run_id: str | None = None, limit: int = 100, offset: int = 0) -> list[Episode]: ...


class RunReport(BaseModel):
    run_id: str
    memory_mode: str
    domain: str
    total: int
    finished: int
    solved: int
    errors: int
    score: float
    prompt_tokens: int
    generated_tokens: int
    seconds: float

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.generated_tokens


class ModeRow(BaseModel):
    domain: str
    memory_mode: str
    runs: int
    finished: int
    solved: int
    score: float
    tokens_per_problem: float
    seconds_per_problem: float


class Report(BaseModel):
    runs: list[RunReport]
    modes: list[ModeRow]


def save_summary(summary: BatchSummary, runs_dir: Path) -> Path:
    """Write the invocation's summary; its ``wall_seconds_total`` adds this invocation's wall time to the
    earlier ones', so a run resumed across sessions still says how long it took."""
    path = Path(runs_dir) / summary.run_id / SUMMARY_FILE
    before = load_summary(summary.run_id, runs_dir)
    earlier = (before.wall_seconds_total or before.wall_seconds) if before is not None else 0.0
    summary.wall_seconds_total = earlier + summary.wall_seconds
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(summary.model_dump_json(indent=2))
    return path


def load_summary(run_id: str, runs_dir: Path) -> BatchSummary | None:
    path = Path(runs_dir) / run_id / SUMMARY_FILE
    return BatchSummary.model_validate_json(path.read_text()) if path.is_file() else None


def run_episodes(source: EpisodeSource, run_id: str, page: int = 500) -> list[Episode]:
    """The latest episode of each problem in the run (a resumed error is superseded by its rerun)."""
    latest: dict[str, Episode] = {}
    offset = 0
    while batch := source.list(run_id=run_id, limit=page, offset=offset):
        for e in batch:
            latest[e.problem_id] = e
        offset += len(batch)
    return list(latest.values())


def mode_label(memory_mode: str, verify: str | None) -> str:
    """The mode as reports show it: gold-verified runs are marked, since their scores are not held-out."""
    return f"{memory_mode}+gold" if verify == "gold" else memory_mode


def run_report(run_id: str, episodes: list[Episode], summary: BatchSummary | None = None) -> RunReport:
    if not episodes and summary is None:
        raise ValueError(f"no episodes recorded for run {run_id!r}")
    modes = {mode_label(m, e.trace.get("verify")) for e in episodes if (m := str(e.trace.get("memory_mode", "")))}
    if summary is not None:
        mode = mode_label(summary.memory_mode, summary.verify)
    else:
        mode = modes.pop() if len(modes) == 1 else "mixed" if modes else "unknown"
    domain = summary.domain if summary and summary.domain else ",".join(sorted({e.domain for e in episodes}))
    n = len(episodes)
    return RunReport(
        run_id=run_id,
        memory_mode=mode,
        domain=domain,
        total=max(summary.total if summary else 0, n),
        finished=n,
        solved=sum(e.verdict == "correct" for e in episodes),
        errors=sum(e.verdict == "error" for e in episodes),
        score=sum(e.score for e in episodes) / n if n else 0.0,
        prompt_tokens=sum(e.prompt_tokens for e in episodes),
        generated_tokens=sum(e.generated_tokens for e in episodes),
        seconds=sum(e.seconds for e in episodes),
    )


def summary_report(summary: BatchSummary) -> RunReport:
    """The same row built from the runner's own totals (no database round trip)."""
    return RunReport(
        run_id=summary.run_id, memory_mode=mode_label(summary.memory_mode, summary.verify), domain=summary.domain,
        total=summary.total,
        finished=summary.finished, solved=summary.solved, errors=summary.errors, score=summary.score,
        prompt_tokens=summary.prompt_tokens, generated_tokens=summary.generated_tokens, seconds=summary.seconds,
    )


def compare_modes(runs: Iterable[RunReport]) -> list[ModeRow]:
    """Pool runs by (domain, memory mode): the off-vs-learning ablation in one table."""
    groups: dict[tuple[str, str], list[RunReport]] = {}
    for r in runs:
        groups.setdefault((r.domain, r.memory_mode), []).append(r)
    rows = []
    for (domain, mode), rs in sorted(groups.items()):
        n = sum(r.finished for r in rs)
        rows.append(ModeRow(
            domain=domain, memory_mode=mode, runs=len(rs), finished=n, solved=sum(r.solved for r in rs),
            score=sum(r.score * r.finished for r in rs) / n if n else 0.0,
            tokens_per_problem=sum(r.tokens for r in rs) / n if n else 0.0,
            seconds_per_problem=sum(r.seconds for r in rs) / n if n else 0.0,
        ))
    return rows


def build_report(runs: list[RunReport]) -> Report:
    return Report(runs=runs, modes=compare_modes(runs))


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def format_report(report: Report) -> str:
    runs = _table(
        ["run", "mode", "domain", "done", "solved", "errors", "score", "prompt tok", "gen tok", "time s"],
        [[r.run_id, r.memory_mode, r.domain, f"{r.finished}/{r.total}", str(r.solved), str(r.errors), f"{r.score:.3f}",
          str(r.prompt_tokens), str(r.generated_tokens), f"{r.seconds:.1f}"] for r in report.runs],
    )
    if len(report.runs) < 2:
        return runs
    modes = _table(
        ["domain", "mode", "runs", "problems", "solved", "score", "tok/problem", "s/problem"],
        [[m.domain, m.memory_mode, str(m.runs), str(m.finished), str(m.solved), f"{m.score:.3f}",
          f"{m.tokens_per_problem:.0f}", f"{m.seconds_per_problem:.1f}"] for m in report.modes],
    )
    return f"{runs}\n\nBy memory mode:\n{modes}"


def write_report(report: Report, out_dir: Path, name: str) -> tuple[Path, Path]:
    """Write ``<name>.json`` and ``<name>.png`` (score and tokens per run, labelled with the mode)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, png_path = out_dir / f"{name}.json", out_dir / f"{name}.png"
    json_path.write_text(json.dumps(report.model_dump(mode="json"), indent=2))

    labels = [f"{r.run_id}\n({r.memory_mode})" for r in report.runs]
    fig, (ax_score, ax_tok) = plt.subplots(1, 2, figsize=(max(6, 2.2 * len(labels) + 2), 4))
    ax_score.bar(labels, [r.score for r in report.runs], color="tab:blue")
    ax_score.set_ylim(0, 1)
    ax_score.set_ylabel("mean score")
    ax_score.set_title("Score per run")
    per_problem = [r.tokens / r.finished if r.finished else 0 for r in report.runs]
    ax_tok.bar(labels, per_problem, color="tab:orange")
    ax_tok.set_ylabel("tokens per problem (prompt + generated)")
    ax_tok.set_title("Tokens per run")
    for ax in (ax_score, ax_tok):
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return json_path, png_path

"""Batch solving: run a solver over a problem set concurrently, record episodes, report scores."""

from agent.batch.report import (
    Report,
    RunReport,
    build_report,
    format_report,
    run_report,
    write_report,
)
from agent.batch.runner import BatchConfig, BatchSummary, Solver, run_batch
from agent.episodes import EpisodeSink

__all__ = [
    "BatchConfig",
    "BatchSummary",
    "EpisodeSink",
    "Report",
    "RunReport",
    "Solver",
    "build_report",
    "format_report",
    "run_batch",
    "run_report",
    "write_report",
]

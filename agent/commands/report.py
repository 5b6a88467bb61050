"""`mnemos report RUN_ID...`: a table of solved/score/tokens/time, a JSON file and a PNG chart."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from agent.config import Settings


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="score table, JSON and chart for one or more runs",
                            description="Summarise runs from the database; several runs get a per-memory-mode comparison.")
    parser.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON and PNG (default: the runs dir)")
    parser.set_defaults(func=run)


def report_name(run_ids: list[str]) -> str:
    name = "report_" + "_vs_".join(re.sub(r"[^\w.-]+", "-", r) for r in run_ids)
    return name[:150]


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.batch.report import (
        build_report,
        format_report,
        load_summary,
        run_episodes,
        run_report,
        write_report,
    )
    from memory.db import Database
    from memory.episodes import EpisodeStore

    db = Database(settings.db_url)
    try:
        store = EpisodeStore(db)
        runs = [run_report(r, run_episodes(store, r), load_summary(r, settings.runs_dir)) for r in args.run_ids]
    finally:
        db.dispose()
    report = build_report(runs)
    print(format_report(report))
    json_path, png_path = write_report(report, args.out or settings.runs_dir, report_name(args.run_ids))
    print(f"wrote {json_path} and {png_path}", file=sys.stderr)
    return 0

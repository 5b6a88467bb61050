"""`mnemos report RUN_ID...`: a table of solved/score/tokens/time, a JSON file and a PNG chart.

`mnemos report NAME --html [OUT] [--open]`: one self-contained HTML page for evaluation NAME
(see agent/evaluation/html_report.py), for a person to look at rather than a script to read.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from agent.config import Settings

HTML_HELP = """\
With --html, NAME is an evaluation (the --name of `mnemos eval`, or one restored by `mnemos archive load`)
and the report is one static HTML page: no server, no network, charts inline, so it opens from disk and
can be mailed. It shows
  - the arms: accuracy with 95% CIs, paired differences to plain and to scaffold, tokens and seconds per
    problem, and accuracy per group (family, hops, length) as a table and a chart;
  - memory: every entry of the memory arms' stores (procedures with their code, concepts, subroutines)
    with how often it was offered, used and solved with on dev, its cross-check, source problem and
    status (active, demoted, removed), sorted by what it paid;
  - where memory changed the outcome: the problems frozen and plain disagree on, both ways, each with a
    link that opens its traces (segments, tool calls, evidence, procedure runs, verdicts, in order);
  - the run: model, machine, settings and the split's fingerprint.
Traces are cut past a size and only the first changed problems carry theirs (the page says where);
`mnemos trace show EPISODE_ID` prints any trace whole. Problem texts, model output and memory code are
escaped, never run. Example: mnemos report g24-r2 --html g24.html --open"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="score table, JSON and chart for runs; --html: a page for an evaluation",
                            description="Summarise runs from the database; several runs get a per-memory-mode "
                            "comparison. Or, with --html, render evaluation NAME as one HTML page.",
                            epilog=HTML_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_ids", nargs="+", metavar="RUN_ID|NAME",
                        help="run ids to summarise, or with --html the one evaluation NAME")
    parser.add_argument("--out", type=Path, default=None, help="where to write the JSON and PNG (default: the runs dir)")
    parser.add_argument("--html", nargs="?", const="", default=None, metavar="OUT",
                        help="write evaluation NAME as one self-contained HTML page to OUT "
                        "(default: <home>/runs/NAME/report.html)")
    parser.add_argument("--open", action="store_true", help="open the HTML page in the default browser (implies --html)")
    parser.set_defaults(func=run)


def run_html(args: argparse.Namespace, settings: Settings) -> int:
    from agent.evaluation.html_report import write_html

    if len(args.run_ids) != 1:
        raise ValueError(f"--html renders one evaluation; give its NAME, not {len(args.run_ids)} names")
    path = write_html(settings, args.run_ids[0], Path(args.html) if args.html else None)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)", file=sys.stderr)
    print(path)
    if args.open:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            print(f"no browser found to open {path}; open it by hand", file=sys.stderr)
    return 0


def report_name(run_ids: list[str]) -> str:
    name = "report_" + "_vs_".join(re.sub(r"[^\w.-]+", "-", r) for r in run_ids)
    return name[:150]


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.html is not None or args.open:
        return run_html(args, settings)
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

"""HTML report: seconds to build and render ``mnemos report NAME --html``'s page, and its size.

Times ``build_page`` + ``render_html`` (charts, memory tables, traces; not reading the
episodes from the database, which is timed once and reported apart, nor writing the
file) on:

* the real Game of 24 evaluation ``docs/results/archives/g24-r2.tar.gz``, restored into
  a throwaway home as ``mnemos archive load`` would;
* made-up evaluations of 200 and 1,000 problems (``agent.evaluation.synthetic``, the ones
  tests/evaluation/test_html_report.py checks for size and content), every problem text
  340 characters and every plain output 20,000.

Each is rendered ``--repeat`` times; the median and the max seconds are reported (the
first run pays for importing matplotlib and compiling the template, so it is usually the
max), with the page size. Writes ``docs/results/html_report.json`` with the machine.

    .venv/bin/python benchmarks/html_report.py
    nice -n 19 .venv/bin/python benchmarks/html_report.py --note "measured while an evaluation ran"
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "html_report.json"
ARCHIVE = ROOT / "docs" / "results" / "archives" / "g24-r2.tar.gz"
EVALUATION = "g24-r2"
SIZES = (200, 1000)

# Run as a script, this folder comes first on sys.path; keep its files from shadowing packages.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def timed(render: Callable[[], str], repeat: int) -> dict[str, Any]:
    """Median and max seconds of ``render`` over ``repeat`` runs, and the last page's size."""
    seconds: list[float] = []
    html = ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        html = render()
        seconds.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(seconds), 3), "max_s": round(max(seconds), 3),
            "runs_s": [round(s, 3) for s in seconds], "page_kb": round(len(html.encode()) / 1024, 1)}


def real_evaluation(repeat: int) -> dict[str, Any]:
    """g24-r2's page, from the inputs ``write_html`` uses (``page_inputs``)."""
    from agent.config import Settings
    from agent.evaluation.archive import load_archive
    from agent.evaluation.html_report import (
        arm_episodes,
        build_page,
        page_inputs,
        render_html,
    )

    with tempfile.TemporaryDirectory(prefix="mnemos-html-bench-") as home:
        settings = Settings(home=Path(home))
        load_archive(settings, ARCHIVE)
        report, stores, snap, machines = page_inputs(settings, EVALUATION)
        t0 = time.perf_counter()
        episodes = arm_episodes(settings, report)
        load_s = time.perf_counter() - t0
        figures = timed(lambda: render_html(build_page(report, episodes, stores, snapshot=snap, machines=machines)),
                        repeat)
    return {"problems": report.n, "arms": len(report.arms), **figures, "load_episodes_s": round(load_s, 3)}


def synthetic(n: int, repeat: int) -> dict[str, Any]:
    from agent.evaluation.html_report import build_page, render_html
    from agent.evaluation.synthetic import synthetic_evaluation

    report, episodes = synthetic_evaluation(n, text="Numbers: 1 2 3 4 " * 20, plain_text="reasoning " * 2000)
    return {"problems": n, "arms": len(report.arms), **timed(lambda: render_html(build_page(report, episodes, {})),
                                                             repeat)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="renders per evaluation (default 3)")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)),
                    help="problems in each made-up evaluation, comma-separated (default 200,1000)")
    ap.add_argument("--note", default=None, help="what the figures should be read with (e.g. the machine was busy)")
    ap.add_argument("--out", type=Path, default=OUT, help=f"JSON output (default {OUT.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not ARCHIVE.is_file():
        ap.error(f"no archive at {ARCHIVE}")

    from agent.evaluation.machine import this_machine

    load_before = os.getloadavg()
    rows: dict[str, dict[str, Any]] = {EVALUATION: {"kind": "real", **real_evaluation(args.repeat)}}
    print(f"{EVALUATION}: {rows[EVALUATION]}", file=sys.stderr)
    for n in sizes:
        rows[f"synthetic-{n}"] = {"kind": "synthetic", **synthetic(n, args.repeat)}
        print(f"synthetic-{n}: {rows[f'synthetic-{n}']}", file=sys.stderr)
    result = {
        "what": "build_page + render_html seconds per page (mnemos report NAME --html), and the page size",
        "repeat": args.repeat,
        "note": args.note,
        "niceness": os.nice(0),
        "load_average_1min": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "machine": this_machine().model_dump(exclude_none=True),
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d"),
        "evaluations": rows,
    }
    print(f"\n{'evaluation':<16} {'problems':>8} {'median s':>9} {'max s':>7} {'page KB':>8}")
    for name, r in rows.items():
        print(f"{name:<16} {r['problems']:>8} {r['median_s']:>9.2f} {r['max_s']:>7.2f} {r['page_kb']:>8.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`mnemos solve SET`: run the agent over a problem set as one resumable run; the sets are the registered domains."""

from __future__ import annotations

import argparse
import sys
import time

from agent.config import Settings
from tools.domains import command_domains, get_domain
from tools.problem import Problem


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("solve", help="solve an ARC or math problem set (resumable, scored)",
                            description="Solve a problem set concurrently; results go to the database as episodes.")
    kinds = parser.add_subparsers(dest="solve_kind", metavar="SET", required=True)
    for domain in command_domains("solve"):
        p = kinds.add_parser(domain.name, help=domain.solve_help)
        domain.add_solve_options(p)
        p.add_argument("--limit", type=int, default=None, help="solve at most this many problems")
        p.add_argument("--run-id", default=None, help="name of the run; reusing one resumes it (default: new id)")
        p.add_argument("--concurrency", type=int, default=None,
                       help="problems solved at once (default: as many traces as the KV cache holds, "
                       "up to --max-num-seqs)")
        p.add_argument("--memory-mode", dest="solve_memory_mode", choices=["off", "frozen", "learning"], default=None,
                       help="off (baseline), frozen (read only), learning (read and update); default from settings")
        p.add_argument("--verify", choices=["domain", "gold", "off"], default="domain",
                       help="answer checks while solving: domain (gold-free; ARC training pairs, none for math), "
                       "gold (against the reference answers: builds memory from a labelled training split in "
                       "learning mode; its scores are not held-out and reports mark it +gold), off")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.set_defaults(func=run)


def load_problems(args: argparse.Namespace) -> tuple[list[Problem], str]:
    """The problems the flags ask for (the domain loads them) and a short label for the default run id."""
    if args.limit is not None and args.limit < 1:
        raise ValueError("--limit must be at least 1")
    problems, label = get_domain(args.solve_kind).solve_problems(args)
    if not problems:
        raise ValueError("no problems to solve")
    return problems[: args.limit] if args.limit else problems, label


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.batch.report import build_report, format_report, summary_report
    from agent.batch.session import solve_set

    if args.concurrency is not None and args.concurrency < 1:
        raise ValueError("--concurrency must be at least 1")
    if args.solve_memory_mode:
        settings = settings.model_copy(update={"memory_mode": args.solve_memory_mode})
    problems, label = load_problems(args)
    run_id = args.run_id or f"{label}-{settings.memory_mode}-{time.strftime('%Y%m%d-%H%M%S')}"
    print(f"run {run_id}: {len(problems)} problems, memory {settings.memory_mode}, verify {args.verify}", file=sys.stderr)
    summary = solve_set(problems, settings, run_id, concurrency=args.concurrency, progress=not args.no_progress,
                        verify=args.verify, on_plan=lambda plan: print(plan.describe(), file=sys.stderr))
    print(format_report(build_report([summary_report(summary)])))
    if summary.interrupted:
        print(f"interrupted; rerun with --run-id {run_id} to finish", file=sys.stderr)
        return 130
    print(f"details: mnemos report {run_id}", file=sys.stderr)
    return 0

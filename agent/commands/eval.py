"""`mnemos eval SET`: the ablation (one sub-command per registered domain). Same problems, same model and sampling, several arms, paired stats.

Arms: ``plain`` (the model alone, chain-of-thought prompt), ``off`` (the controller
without memory), ``frozen`` (read-only memory learned on the training part) and
``learning`` (an empty memory that learns while solving dev, in stream order: the cold start). Rerunning the same command
resumes it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent.config import Settings
from tools.domains import command_domains, get_domain
from tools.problem import Problem

if TYPE_CHECKING:
    from tools.domains.split import Split

#: ``--small`` (CI): the machinery on a handful of problems and the small model, not the figures.
SMALL_MODEL = "smollm2-135m"
SMALL_MAX_TOKENS = 256
SMALL_BUDGETS = {"retries": 1, "segments": 2, "segment_tokens": 96, "tokens": 400}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "eval", help="ablation: plain model vs controller vs memory arms on a dev split, with paired statistics",
        description="Learn memory on a training part (gold-verified), snapshot it, run each arm on the dev part and "
        "compare them per problem: accuracy with Wilson 95% CI, paired bootstrap difference to plain, exact "
        "McNemar p, tokens and seconds per problem, tag and memory use. Resumable: rerun the same command.")
    kinds = parser.add_subparsers(dest="eval_kind", metavar="SET", required=True)

    for domain in command_domains("eval"):
        p = kinds.add_parser(domain.name, help=domain.eval_help)
        domain.add_eval_options(p)
        p.add_argument("--arms", default="plain,off,frozen,learning",
                       help="comma-separated arms of plain, off, scaffold (the memory arms' steps on an empty memory), "
                       "frozen, learning, run in the order given (default: plain,off,frozen,learning)")
        p.add_argument("--name", default=None, help="evaluation name; rerunning with it resumes "
                       "(default: derived from the data, split and model)")
        p.add_argument("--limit", type=int, default=None, help="use at most this many dev problems")
        p.add_argument("--train-limit", type=int, default=None, help="learn on at most this many training problems")
        p.add_argument("--concurrency", type=int, default=None,
                       help="problems solved at once (default: as many as the KV cache holds)")
        p.add_argument("--train-concurrency", type=int, default=None,
                       help="problems learned from at once (default: --concurrency); 1 lets each problem use what "
                       "the ones before it stored")
        p.add_argument("--model", dest="eval_model", default=None, help="model for every arm (same as global --model)")
        p.add_argument("--max-tokens", dest="eval_max_tokens", type=int, default=None,
                       help="max new tokens per generation (same as global --max-tokens)")
        p.add_argument("--snapshot", default=None, help="name of the memory snapshot: taken after training, "
                       "or used as it is when it exists already (default: <name>-train)")
        p.add_argument("--skip-train", action="store_true", help="do not learn; use the snapshot named by --snapshot")
        p.add_argument("--train-from", default=None, metavar="SNAPSHOT",
                       help="start training from this snapshot's memory instead of an empty one (e.g. more training "
                       "problems for the families it has no procedure for); the new snapshot holds both")
        p.add_argument("--train-verify", choices=["gold", "domain"], default="gold",
                       help="check while learning on train: gold (reference answers, default) or domain (gold-free)")
        p.add_argument("--train-reason", action="store_true",
                       help="while learning on train, solve the problems no procedure answers by reasoning too, so "
                       "concepts are written and kept only if their A/B trial on held problems shows they help "
                       "(slower; default: training only writes and checks procedures)")
        p.add_argument("--baselines-from", default=None, metavar="EVAL",
                       help="copy the plain, off and scaffold arms from evaluation EVAL (same split and settings, or for "
                            "gym any evaluation whose dev problems include these; they read nothing learned) instead "
                            "of solving them again")
        p.add_argument("--publish", default=None, metavar="NAME", help="also write PUBLISH_DIR/NAME.json and .png")
        p.add_argument("--publish-dir", type=Path, default=Path("docs/results"), help="default: docs/results")
        p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples (default 10000)")
        p.add_argument("--stats-seed", type=int, default=0, help="bootstrap seed (default 0)")
        p.add_argument("--small", action="store_true", help=f"CI check: a handful of problems on {SMALL_MODEL}")
        p.add_argument("--no-progress", action="store_true", help="no progress bars")
        p.set_defaults(func=run)


def _smallest(problems: list[Problem], n: int) -> list[Problem]:
    """The ``n`` shortest problems (stable), so a CI run fits the small model's context."""
    keep = {p.id for p in sorted(problems, key=lambda p: len(p.prompt))[:n]}
    return [p for p in problems if p.id in keep]


def _trim(split: Split, args: argparse.Namespace) -> Split:
    """Dev first (--small / --limit), then train without copies of those dev problems, then train's own limits."""
    from tools.domains.split import drop_overlap

    for flag, value in (("--limit", args.limit), ("--train-limit", args.train_limit)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be at least 1")
    n_train, n_dev = get_domain(split.record.kind).small_sizes
    dev = _smallest(split.dev, args.limit or n_dev) if args.small else split.dev[: args.limit]
    train, dropped = drop_overlap(split.train, dev)
    if dropped:
        print(f"left {len(dropped)} training problem(s) out that also occur in dev: {', '.join(dropped[:5])}"
              + (" ..." if len(dropped) > 5 else ""), file=sys.stderr)
    train = _smallest(train, args.train_limit or n_train) if args.small else train[: args.train_limit]
    record = split.record.model_copy(update={"train_ids": [p.id for p in train], "dev_ids": [p.id for p in dev],
                                             "train_dropped": dropped})
    return split.model_copy(update={"train": train, "dev": dev, "record": record})


def eval_settings(settings: Settings, args: argparse.Namespace) -> Settings:
    update: dict[str, object] = {}
    if args.small:
        if "model" not in settings.model_fields_set:
            update["model"] = SMALL_MODEL
        update["max_tokens"] = min(settings.max_tokens, SMALL_MAX_TOKENS)
        update["budgets"] = settings.budgets.model_copy(
            update={k: min(getattr(settings.budgets, k), v) for k, v in SMALL_BUDGETS.items()})
    if args.eval_model:
        update["model"] = args.eval_model
    if args.eval_max_tokens is not None:
        if args.eval_max_tokens < 1:
            raise ValueError("--max-tokens must be at least 1")
        update["max_tokens"] = args.eval_max_tokens
    return settings.model_copy(update=update) if update else settings


def default_name(kind: str, label: str, split: Split, settings: Settings, small: bool) -> str:
    """Deterministic, so rerunning the same command finds (and resumes) the same evaluation."""
    key = "\0".join([split.record.fingerprint(), str(settings.model), str(settings.max_tokens),
                     str(settings.temperature), str(settings.top_p), str(small)])
    return f"eval-{kind}-{label}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def run(args: argparse.Namespace, settings: Settings) -> int:
    from agent.evaluation.arms import parse_arms
    from agent.evaluation.runner import EvalOptions, print_outcome, run_eval

    if args.concurrency is not None and args.concurrency < 1:
        raise ValueError("--concurrency must be at least 1")
    arms = parse_arms(args.arms)
    settings = eval_settings(settings, args)
    split, label = get_domain(args.eval_kind).eval_split(args)
    split = _trim(split, args)
    name = args.name or default_name(args.eval_kind, label, split, settings, args.small)
    options = EvalOptions(name=name, arms=arms, concurrency=args.concurrency, progress=not args.no_progress,
                          train_concurrency=args.train_concurrency,
                          snapshot=args.snapshot, skip_train=args.skip_train, train_from=args.train_from,
                          train_verify=args.train_verify,
                          train_reason=args.train_reason,
                          resamples=args.resamples, seed=args.stats_seed, publish=args.publish,
                          publish_dir=args.publish_dir, baselines_from=args.baselines_from)
    print(f"eval {name}: {len(split.train)} train / {len(split.dev)} dev problems, arms {', '.join(arms)}, "
          f"model {settings.model}", file=sys.stderr)
    resume = f"interrupted; rerun the same command (or add --name {name}) to resume"
    try:
        outcome = run_eval(split, settings, options)
    except KeyboardInterrupt:
        print(resume, file=sys.stderr)
        return 130
    if outcome.interrupted:
        print(resume, file=sys.stderr)
        return 130
    print_outcome(outcome)
    return 0

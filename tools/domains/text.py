"""Free-text answers with an optional document: exact match after normalisation, any listed gold accepted.

``mnemos eval text`` measures recall on generated long-context multi-hop items
(:mod:`tools.tasks.longctx`), or on JSONL problems; its report breaks accuracy down by
hop count and context length.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from tools.domains.base import Domain
from tools.domains.split import Split, SplitRecord, files_split, seeded_split
from tools.problem import Problem
from tools.tasks import longctx, mathx

#: Items of a generated set when ``--generate`` is not given, and the dev part of them.
DEFAULT_ITEMS, DEFAULT_DEV = 300, 150


def _norm(s: str) -> str:
    return re.sub(r"[^\w]+", " ", s).strip().lower()


def load_jsonl(path: Path) -> list[Problem]:
    """Problems as JSONL (``id``, ``prompt``, optional ``context``, ``gold``, ``meta``); a bad line names itself."""
    out = []
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Problem.model_validate({"domain": "text", **json.loads(line)}))
        except ValueError as exc:
            raise ValueError(f"{path}:{lineno}: not a problem line ({str(exc).splitlines()[0]})") from None
    return out


class TextDomain(Domain):
    name = "text"
    eval_help = "long-context multi-hop questions (generated, 1-3 hops, 2k-12k tokens) or JSONL problems"
    small_sizes = (2, 4)
    report_groups = ("hops", "length")

    def score(self, problem: Problem, attempts: list[str]) -> float:
        if not attempts or problem.gold is None:
            return 0.0
        golds = problem.gold if isinstance(problem.gold, list) else [problem.gold]
        final = _norm(mathx.extract_answer(attempts[-1]) or "")
        return 1.0 if any(_norm(str(g)) == final for g in golds) else 0.0

    def final_answer(self, text: str) -> str | None:
        return mathx.tagged_answer(text)

    def add_eval_options(self, parser: argparse.ArgumentParser) -> None:
        self.add_split_file_options(parser)
        parser.add_argument("--generate", type=int, default=None, metavar="N",
                            help=f"generate N long-context items (default {DEFAULT_ITEMS})")
        parser.add_argument("--lengths", default=",".join(map(str, longctx.LENGTHS)),
                            help="context lengths in tokens, comma-separated")
        parser.add_argument("--hops", default=",".join(map(str, longctx.HOPS)), help="hop counts, comma-separated")
        parser.add_argument("--dev-size", type=int, default=None, metavar="N",
                            help=f"dev items of the generated set (default {DEFAULT_DEV})")
        parser.add_argument("--split-seed", type=int, default=0, metavar="S", help="seed of generation and split")

    def eval_split(self, args: argparse.Namespace) -> tuple[Split, str]:
        if args.train is not None or args.dev is not None:
            return files_split(self.name, args.train, args.dev, load_jsonl), args.dev.stem
        lengths = tuple(int(x) for x in args.lengths.split(",") if x.strip())
        hops = tuple(int(x) for x in args.hops.split(",") if x.strip())
        if not lengths or not hops or any(h not in longctx.HOPS for h in hops) or min(lengths) < 200:
            raise ValueError("--hops takes 1, 2 or 3; --lengths takes token counts of at least 200")
        small_dev = 2 * self.small_sizes[1]
        n = args.generate or (small_dev if args.small else DEFAULT_ITEMS)
        problems = longctx.generate(n, args.split_seed, lengths if not args.small else (min(lengths),), hops)
        dev_size = args.dev_size or (n // 2 if args.small else min(DEFAULT_DEV, n // 2))
        train, dev = seeded_split(problems, dev_size, args.split_seed)
        label = f"longctx{n}"
        record = SplitRecord(kind=self.name, method="seeded", seed=args.split_seed,
                             sources={"all": f"longctx(n={n}, seed={args.split_seed}, lengths={lengths}, hops={hops})"})
        return Split(train=train, dev=dev, record=record), label

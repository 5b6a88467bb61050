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

#: Document tokens of the default dev set (about 93 generated items at 1k-8k plus needle_haystack items), and
#: the training items generated beside it (short ones: recall needs no training; memory arms learn from them).
DEFAULT_DEV_TOKENS, DEFAULT_TRAIN = 200_000, 12
#: Share of the dev budget given to reasoning-gym's needle_haystack items, at the lengths up to this many tokens.
NEEDLE_SHARE, NEEDLE_MAX_LENGTH = 0.1, 2000


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
    report_groups = ("hops", "length", "source")

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
        parser.add_argument("--dev-tokens", type=int, default=None, metavar="T",
                            help=f"size the dev set by its documents' tokens (default {DEFAULT_DEV_TOKENS:,}): each "
                            "length gets an equal share, so there are more short items than long ones; "
                            f"{NEEDLE_SHARE:.0%} goes to reasoning-gym needle_haystack items")
        parser.add_argument("--generate", type=int, default=None, metavar="N",
                            help="instead of --dev-tokens: generate N items cycling through every (hops, length) "
                            "and split them with --dev-size")
        parser.add_argument("--lengths", default=",".join(map(str, longctx.LENGTHS)),
                            help="context lengths in tokens, comma-separated")
        parser.add_argument("--hops", default=",".join(map(str, longctx.HOPS)), help="hop counts, comma-separated")
        parser.add_argument("--dev-size", type=int, default=None, metavar="N",
                            help="dev items of a --generate set (default half)")
        parser.add_argument("--split-seed", type=int, default=0, metavar="S", help="seed of generation and split")

    def eval_split(self, args: argparse.Namespace) -> tuple[Split, str]:
        if args.train is not None or args.dev is not None:
            return files_split(self.name, args.train, args.dev, load_jsonl), args.dev.stem
        lengths = tuple(int(x) for x in args.lengths.split(",") if x.strip())
        hops = tuple(int(x) for x in args.hops.split(",") if x.strip())
        if not lengths or not hops or any(h not in longctx.HOPS for h in hops) or min(lengths) < 200:
            raise ValueError("--hops takes 1, 2 or 3; --lengths takes token counts of at least 200")
        if args.generate is None and not args.small:
            return self._budget_split(args.dev_tokens or DEFAULT_DEV_TOKENS, lengths, hops, args.split_seed)
        n = args.generate or 2 * self.small_sizes[1]
        problems = longctx.generate(n, args.split_seed, lengths if not args.small else (min(lengths),), hops)
        dev_size = args.dev_size or n // 2
        train, dev = seeded_split(problems, dev_size, args.split_seed)
        label = f"longctx{n}"
        record = SplitRecord(kind=self.name, method="seeded", seed=args.split_seed,
                             sources={"all": f"longctx(n={n}, seed={args.split_seed}, lengths={lengths}, hops={hops})"})
        return Split(train=train, dev=dev, record=record), label

    def _budget_split(self, tokens: int, lengths: tuple[int, ...], hops: tuple[int, ...],
                      seed: int) -> tuple[Split, str]:
        """A dev set sized by document tokens (generated items and needle_haystack ones), and short training items."""
        short = tuple(ln for ln in lengths if ln <= NEEDLE_MAX_LENGTH) or (min(lengths),)
        needle_tokens = int(tokens * NEEDLE_SHARE)
        n_needles = max(1, round(needle_tokens / (sum(short) / len(short))))
        dev = longctx.items_for(longctx.budget_cells(tokens - needle_tokens, lengths, hops), seed)
        dev += longctx.needle_items(n_needles, seed, short)
        train = longctx.items_for([(hops[i % len(hops)], min(lengths)) for i in range(DEFAULT_TRAIN)], seed + 1,
                                  start=len(dev))
        record = SplitRecord(kind=self.name, method="seeded", seed=seed, sources={
            "dev": f"longctx(budget={tokens - needle_tokens} tokens, seed={seed}, lengths={lengths}, hops={hops}) "
                   f"+ needle_haystack(n={n_needles}, seed={seed}, lengths={short})",
            "train": f"longctx(n={DEFAULT_TRAIN}, seed={seed + 1}, length={min(lengths)})"})
        return Split(train=train, dev=dev, record=record), f"longctx-{tokens // 1000}k"

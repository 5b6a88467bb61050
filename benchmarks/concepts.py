"""Concept selection at scale: embedding shortlist + constrained choice vs showing the whole memory.

ArcMemo selects concepts by putting the entire concept memory into the prompt,
which grows linearly and leaves the context window at a few hundred concepts.
mnemos shortlists ``concept_shortlist`` candidates from the real ConceptStore
(SQL + FAISS) and asks one batched yes/no question per candidate, so the
per-problem cost is one index search plus a constant number of short prompts.

For each store size this prints, side by side: shortlist search latency (query
embedding excluded), shortlist recall against exact search, the tokens the
model reads to select concepts (shortlist + choice) and what the whole-memory
prompt would need, and whether that fits the model's context.

Embedding 100k+ concept texts on 2 CPU cores takes hours, so stored vectors are
derived from a pool of real embeddings exactly as in ``benchmarks/retrieval.py``
(its ``derive``); queries are real embeddings of separately generated problems.

    python benchmarks/concepts.py [--sizes 1000 10000 100000] [--small]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Run as a script, this folder comes first on sys.path and sibling benchmarks named like
# packages (retrieval.py, kvcache.py) would shadow them.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

SHAPES = ["grid", "list", "graph", "sequence", "matrix", "string", "polygon", "tree", "interval", "fraction"]
ACTIONS = ["rotate", "reflect", "fill", "count", "sort", "partition", "recolor", "extend", "crop", "merge",
           "compare", "factor", "normalise", "tile", "trace"]
CUES = ["objects repeat with a fixed period", "output is larger than input", "colors map one to one",
        "a border surrounds the shape", "numbers share a common divisor", "the answer is a ratio",
        "symmetry about an axis", "cells connect diagonally", "a count must be preserved", "units must convert"]


def _retrieval_bench():
    spec = importlib.util.spec_from_file_location("retrieval_bench", Path(__file__).with_name("retrieval.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def make_concepts(n: int, seed: int) -> list:
    from memory.schemas import Concept

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        action, shape = ACTIONS[rng.integers(len(ACTIONS))], SHAPES[rng.integers(len(SHAPES))]
        cues = [CUES[j] for j in rng.choice(len(CUES), 2, replace=False)]
        out.append(Concept(name=f"{action}-{shape}-{i}", kind="routine" if i % 3 else "structure",
                           description=f"{action.capitalize()} the {shape} by step {int(rng.integers(2, 9))} "
                                       f"keeping {shape} invariants", cues=cues,
                           notes=[f"apply {action} per {shape} part, then reassemble"], domain="arc"))
    return out


class LookupEncoder:
    """Stored concept texts map to precomputed vectors; anything else is embedded for real."""

    def __init__(self, real, table: dict[str, np.ndarray]):
        self.real, self.table, self.dim = real, table, real.dim
        self.fingerprint = f"derived:{real.fingerprint}"

    def encode(self, texts: list[str]) -> np.ndarray:
        if all(t in self.table for t in texts):
            return np.stack([self.table[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        return self.real.encode(texts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--shortlist", type=int, default=16, help="concept_shortlist (Settings default 16)")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--pool", type=int, default=400, help="real concept embeddings to derive stored vectors from")
    ap.add_argument("--small", action="store_true", help="CI size: 500 and 5000 concepts")
    args = ap.parse_args()
    if args.small:
        args.sizes, args.queries, args.pool = [500, 5000], 20, 200

    from transformers import AutoTokenizer

    from agent.config import default_cache
    from agent.controller.prompts import CONCEPT_CHOICE_PROMPT
    from agent.embedded import model_max_context, resolve_model
    from memory import open_memory
    from memory.concepts import ConceptStore
    from retrieval.embedder import Embedder

    bench = _retrieval_bench()
    model_dir = resolve_model(None, default_cache())
    tok = AutoTokenizer.from_pretrained(model_dir)
    context = model_max_context(model_dir) or 0
    real = Embedder()
    pool_concepts = make_concepts(args.pool, seed=1)
    pool = real.encode([c.embedding_text() for c in pool_concepts])
    problems = [f"Grid puzzle: {c.description}; {c.cues[0]}." for c in make_concepts(args.queries, seed=2)]
    qvecs = real.encode(problems)

    print(f"stored vectors derived from {args.pool} real concept embeddings; {args.queries} real query embeddings; "
          f"shortlist k={args.shortlist}; model context {context} tokens")
    print(f"{'concepts':>9} | {'index':<14} {'add s':>7} | {'search p50 ms':>13} {'p99 ms':>7} {'recall@k':>8} | "
          f"{'select tokens':>13} | {'whole-memory tokens':>19} {'fits':>5}")
    for n in args.sizes:
        concepts = make_concepts(n, seed=3)
        vecs = bench.derive(pool, n, seed=4)
        enc = LookupEncoder(real, {c.embedding_text(): v for c, v in zip(concepts, vecs)})
        with tempfile.TemporaryDirectory() as tmp:
            mem = open_memory(f"sqlite:///{tmp}/m.db", Path(tmp) / "idx", enc, merge_threshold=None)
            t0 = time.perf_counter()
            for start in range(0, n, 5000):
                mem.concepts.add_many(concepts[start : start + 5000])
            add_s = time.perf_counter() - t0
            store = mem.concepts
            p50, p99 = bench.latencies_ms(lambda q: store.search_vectors(q, args.shortlist), qvecs)
            exact = np.argsort(-(qvecs @ vecs.T), axis=1)[:, : args.shortlist] + 1  # SQL ids start at 1
            got = [{h.id for h in store.search_vectors(q[None], args.shortlist)[0]} for q in qvecs]
            recall = float(np.mean([len(g & set(e.tolist())) / args.shortlist for g, e in zip(got, exact)]))
            layout = store.index.layout
            mem.close()
        choice = [CONCEPT_CHOICE_PROMPT.format(problem=problems[0], name=c.name, description=c.description,
                                               cues="; ".join(c.cues)) for c in concepts[: args.shortlist]]
        select_tokens = sum(len(tok.encode(p)) for p in choice)
        sample = concepts[: min(n, 1000)]
        per_concept = np.mean([len(tok.encode(ConceptStore.shown(0, c))) for c in sample])
        whole = int(per_concept * n)
        print(f"{n:>9} | {layout:<14} {add_s:>7.1f} | {p50:>13.2f} {p99:>7.2f} {recall:>8.3f} | {select_tokens:>13,} | "
              f"{whole:>19,} {'yes' if whole < context else 'no':>5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

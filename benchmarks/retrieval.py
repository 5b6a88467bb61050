"""Retrieval benchmark: build and query subroutine indexes of 10k, 100k and 1M entries.

Prints, side by side per size: build time, index memory, top-8 query latency (p50/p99,
one query at a time, embedding excluded) for the index mnemos picks at that size and
for exact flat search, and recall@8 of the picked index against exact search.

Texts are generated procedurally (templates x vocabularies x numbers). Embedding 1M
texts with MiniLM on 2 CPU cores would take hours, so a pool of real embeddings is
made and larger stores are *derived* from it: each derived vector is
normalise(p[a] + 0.35 * p[b] + 0.25 * g / sqrt(dim)) for two random pool vectors
p[a], p[b] and Gaussian g. Queries are real embeddings of separately generated texts.
The output says which rows are real and which are derived.

    .venv/bin/python benchmarks/retrieval.py            # 10k / 100k / 1M
    .venv/bin/python benchmarks/retrieval.py --small    # CI-sized: 2k / 20k / 100k
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Run as a script, this folder comes first on sys.path and sibling benchmarks named like
# packages (retrieval.py, kvcache.py) would shadow them.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

VERBS = ["compute", "find", "simplify", "convert", "count", "sort", "rotate", "reflect", "fill", "extract", "compare", "estimate"]
OBJECTS = [
    "the sum of two fractions", "the area of a triangle", "the perimeter of a rectangle", "the greatest common divisor",
    "the least common multiple", "a percentage of a quantity", "the average speed of a trip", "the number of permutations",
    "the largest connected region", "the bounding box of an object", "the most frequent colour", "the symmetry axis of a shape",
    "the remainder of a division", "the roots of a quadratic", "the interest on a loan", "the slope of a line",
    "the number of days between dates", "the median of a list", "the shortest path in a grid", "the cells enclosed by a border",
]
QUALIFIERS = [
    "given {a} and {b}", "when the input has {a} rows", "for {a} items priced at {b} each", "with a ratio of {a} to {b}",
    "after {a} steps", "modulo {b}", "in a {a} by {b} grid", "rounded to {a} decimal places", "using units of {b}",
]
PROCEDURES = ["apply the formula, then check units", "reduce to lowest terms", "scan row by row and keep a counter",
              "use breadth-first search from the border", "sort then take the middle element"]
DOMAINS = ["math", "arc", "general"]


def make_texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        q = QUALIFIERS[rng.integers(len(QUALIFIERS))].format(a=int(rng.integers(2, 99)), b=int(rng.integers(2, 999)))
        style = rng.integers(3)
        verb, obj = VERBS[rng.integers(len(VERBS))], OBJECTS[rng.integers(len(OBJECTS))]
        if style == 0:
            out.append(f"How do I {verb} {obj} {q}?")
        elif style == 1:
            out.append(f"Sub-question: {verb} {obj} {q}. Procedure: {PROCEDURES[rng.integers(len(PROCEDURES))]}.")
        else:
            out.append(f"What is the way to {verb} {obj}, {q}?")
    return out


def derive(pool: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, pool.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        a, b = rng.integers(0, len(pool), m), rng.integers(0, len(pool), m)
        v = pool[a] + 0.35 * pool[b] + (0.25 / np.sqrt(pool.shape[1])) * rng.standard_normal((m, pool.shape[1])).astype(np.float32)
        out[start : start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def latencies_ms(search, queries: np.ndarray) -> tuple[float, float]:
    for q in queries[:10]:
        search(q[None])
    times = []
    for q in queries:
        t = time.perf_counter()
        search(q[None])
        times.append((time.perf_counter() - t) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def bench_size(n: int, pool: np.ndarray, queries: np.ndarray, real: bool, nprobes: list[int], config) -> list[dict]:
    import faiss

    from retrieval.index import VectorIndex

    vecs = pool[:n] if real else derive(pool, n, seed=n)
    ids = np.arange(1, n + 1, dtype=np.int64)
    exact_ids = ids[faiss.knn(queries, vecs, 8, metric=faiss.METRIC_INNER_PRODUCT)[1]]
    flat = VectorIndex.build(ids, vecs, vecs.shape[1], config.model_copy(update={"flat_threshold": n + 1}))
    flat_p50, flat_p99 = latencies_ms(lambda q, index=flat: index.search(q, 8), queries)
    del flat

    rss0 = rss_mib()
    t = time.perf_counter()
    index = VectorIndex.build(ids, vecs, vecs.shape[1], config)
    build_s = time.perf_counter() - t
    rss_delta = rss_mib() - rss0
    mem_mib = index.memory_bytes() / 2**20
    rows = []
    probes = [None] if index.layout == "flat" else sorted({index.nprobe, *nprobes})
    default_probe = index.nprobe
    for nprobe in probes:
        if nprobe is not None:
            index.nprobe = nprobe
        got = index.search(queries, 8)
        recall = float(np.mean([len(set(g.ids) & set(e)) / 8 for g, e in zip(got, exact_ids)]))
        p50, p99 = latencies_ms(lambda q: index.search(q, 8), queries)
        rows.append(
            {
                "n": n,
                "vectors": "real" if real else "derived",
                "index": index.layout + (f" nprobe={nprobe}" if nprobe else "") + (" *" if nprobe == default_probe else ""),
                "build_s": build_s,
                "mem_mib": mem_mib,
                "rss_mib": rss_delta,
                "p50": p50,
                "p99": p99,
                "recall": recall,
                "flat_p50": flat_p50,
                "flat_p99": flat_p99,
            }
        )
    return rows


def bench_store(pool: np.ndarray, texts: list[str], queries: np.ndarray, n: int) -> dict:
    """End-to-end SubroutineStore on SQLite: add_many throughput and search (SQL fetch + exact rescoring)."""
    from memory import Subroutine, open_memory

    lookup = {t: v for t, v in zip(texts[:n], pool[:n])}

    class Precomputed:
        dim = pool.shape[1]
        fingerprint = "benchmark-precomputed"

        def encode(self, batch: list[str]) -> np.ndarray:
            return np.stack([lookup[t] for t in batch]) if batch else np.zeros((0, self.dim), np.float32)

    with tempfile.TemporaryDirectory() as tmp:
        with open_memory(f"sqlite:///{tmp}/m.db", Path(tmp) / "idx", Precomputed()) as m:
            items = [Subroutine(question=t, procedure="p", domain=DOMAINS[i % 3]) for i, t in enumerate(texts[:n])]
            t = time.perf_counter()
            for start in range(0, n, 500):
                m.subroutines.add_many(items[start : start + 500])
            add_s = time.perf_counter() - t
            p50, p99 = latencies_ms(lambda q: m.subroutines.search_vectors(q, 8), queries[:200])
            fp50, fp99 = latencies_ms(lambda q: m.subroutines.search_vectors(q, 8, {"domain": "arc"}), queries[:200])
            stored = m.subroutines.count()
    return {"n": n, "stored": stored, "add_per_s": n / add_s, "p50": p50, "p99": p99, "fp50": fp50, "fp99": fp99}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", action="store_true", help="CI-sized run: 2k/20k/100k, smaller pool")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], help="comma-separated store sizes")
    parser.add_argument("--pool", type=int, help="real embedded texts (default 5000, --small 1000)")
    parser.add_argument("--queries", type=int, help="query texts (default 500, --small 200)")
    parser.add_argument("--nprobe", type=lambda s: [int(x) for x in s.split(",")], default=[16, 64], help="extra nprobe values to sweep")
    parser.add_argument("--threads", type=int, help="FAISS threads (default: all cores)")
    parser.add_argument("--no-store", action="store_true", help="skip the end-to-end SQLite store row")
    args = parser.parse_args()
    sizes = args.sizes or ([2_000, 20_000, 100_000] if args.small else [10_000, 100_000, 1_000_000])
    pool_n = args.pool or (1_000 if args.small else 5_000)
    nq = args.queries or (200 if args.small else 500)

    import faiss

    from retrieval.embedder import Embedder
    from retrieval.index import IndexConfig

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    print(f"machine: {os.cpu_count()} cores, faiss {faiss.__version__}, threads {faiss.omp_get_max_threads()}")
    embedder = Embedder()
    texts = make_texts(pool_n, seed=1)
    t = time.perf_counter()
    pool = embedder.encode(texts)
    emb_s = time.perf_counter() - t
    queries = embedder.encode(make_texts(nq, seed=2))
    print(f"embedded {pool_n} generated subroutine texts in {emb_s:.1f} s ({pool_n / emb_s:.0f} texts/s, all-MiniLM-L6-v2, {embedder.dim} dims)")
    print(f"queries: {nq} real embeddings of separately generated texts; latency = one query at a time, top-8, embedding excluded")
    print("stores larger than the pool use derived vectors: normalise(p[a] + 0.35*p[b] + 0.25*N(0, 1/dim)) over pool vectors p\n")

    config = IndexConfig()
    rows = []
    for n in sizes:
        rows.extend(bench_size(n, pool, queries, real=n <= pool_n, nprobes=args.nprobe, config=config))
        r = rows[-1]
        print(f"  done n={n:,} ({r['index']}) build {r['build_s']:.1f} s", flush=True)

    header = f"{'n':>10} {'vectors':>8} {'index (* = default)':>26} {'build s':>8} {'index MiB':>10} {'RSS +MiB':>9} {'p50 ms':>7} {'p99 ms':>7} {'recall@8':>9} {'exact p50':>10} {'exact p99':>10}"
    print("\n" + header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['n']:>10,} {r['vectors']:>8} {r['index']:>26} {r['build_s']:>8.1f} {r['mem_mib']:>10.1f} {r['rss_mib']:>9.0f} "
            f"{r['p50']:>7.2f} {r['p99']:>7.2f} {r['recall']:>9.3f} {r['flat_p50']:>10.2f} {r['flat_p99']:>10.2f}"
        )
    print("(exact = brute-force flat inner product over the same vectors; recall@8 of the row's index against it)")

    if not args.no_store:
        n = min(pool_n, sizes[0])
        s = bench_store(pool, texts, queries, n)
        print(
            f"\nend-to-end SubroutineStore on SQLite, {s['n']:,} real vectors ({s['stored']:,} stored after near-duplicate merging): "
            f"add_many {s['add_per_s']:.0f} items/s; search p50 {s['p50']:.2f} ms / p99 {s['p99']:.2f} ms "
            f"(index + SQL fetch + exact rescoring); domain-filtered p50 {s['fp50']:.2f} ms / p99 {s['fp99']:.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

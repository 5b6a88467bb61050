"""Paired statistics for comparing arms on the same problems.

Pure functions on per-problem scores, so they are tested against known values
and reused by anything that compares two runs. Scores are in 0..1 (ARC tasks
with several test outputs score fractions); the tests that need a yes/no count
a problem as solved only at score 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; stays inside [0, 1] and is sane at 0/n and n/n.

    ``successes`` may be fractional (a sum of partial scores); the interval then treats
    it as that many successes, an approximation the report states.
    """
    if n <= 0:
        raise ValueError("a confidence interval needs at least one problem")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n], got {successes} of {n}")
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, resamples: int = 10_000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Mean of ``a - b`` over paired problems and its percentile bootstrap interval.

    Problems are resampled as pairs, so the interval reflects that both arms saw the same
    problems (much tighter than comparing two independent intervals). A fixed ``seed``
    makes a published interval reproducible.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("paired scores must be two sequences of the same length")
    if x.size == 0:
        raise ValueError("a paired difference needs at least one problem")
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    diff = x - y
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // diff.size)  # bound memory: at most ~2M indices at once
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, diff.size, size=(stop - start, diff.size))
        means[start:stop] = diff[idx].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(diff.mean()), (float(lo), float(hi))


def mcnemar_exact(a_solved: Sequence[bool], b_solved: Sequence[bool]) -> tuple[int, int, float]:
    """Exact two-sided McNemar test: ``(a only, b only, p)``.

    Only discordant problems carry information; under "no difference" each is equally
    likely to favour either arm, so the count is Binomial(discordant, 1/2). Computed with
    exact integers, so it is right for any number of problems.
    """
    if len(a_solved) != len(b_solved):
        raise ValueError("paired outcomes must have the same length")
    a_only = sum(1 for x, y in zip(a_solved, b_solved, strict=True) if x and not y)
    b_only = sum(1 for x, y in zip(a_solved, b_solved, strict=True) if y and not x)
    n = a_only + b_only
    if n == 0:
        return 0, 0, 1.0
    k = min(a_only, b_only)
    tail = sum(math.comb(n, i) for i in range(k + 1))
    return a_only, b_only, min(1.0, 2 * tail / 2**n)

"""The ablation's statistics against values computed by hand or by textbook formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agent.evaluation.stats import mcnemar_exact, paired_bootstrap, wilson_interval


@pytest.mark.parametrize(("k", "n", "lo", "hi"), [
    (5, 10, 0.236593, 0.763407),   # symmetric around 1/2
    (0, 10, 0.0, 0.277533),        # no successes: upper bound z^2/(n+z^2)
    (10, 10, 0.722467, 1.0),
    (26, 40, 0.495059, 0.778655),  # the plain arm: 26/40
])
def test_wilson_known_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-6)


def test_wilson_zero_successes_has_closed_form():
    z2 = 1.959963984540054**2
    assert wilson_interval(0, 25)[1] == pytest.approx(z2 / (25 + z2))


def test_wilson_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="in \\[0, n\\]"):
        wilson_interval(11, 10)


def test_mcnemar_exact_known_values():
    # 1 vs 9 discordant: p = 2 * (C(10,0) + C(10,1)) / 2^10 = 22/1024
    a = [True] * 1 + [False] * 9 + [True] * 5
    b = [False] * 1 + [True] * 9 + [True] * 5
    assert mcnemar_exact(a, b) == (1, 9, pytest.approx(22 / 1024))
    assert mcnemar_exact(b, a) == (9, 1, pytest.approx(22 / 1024))
    assert mcnemar_exact([True, False], [True, False]) == (0, 0, 1.0)  # no discordant pair: no evidence
    assert mcnemar_exact([True, False], [False, True])[2] == 1.0       # balanced: capped at 1


def test_mcnemar_matches_scipy_binomial_test_on_large_counts():
    scipy_stats = pytest.importorskip("scipy.stats")
    a = [True] * 70 + [False] * 40 + [True] * 200
    b = [False] * 70 + [True] * 40 + [True] * 200
    only_a, only_b, p = mcnemar_exact(a, b)
    assert (only_a, only_b) == (70, 40)
    assert p == pytest.approx(scipy_stats.binomtest(40, 110, 0.5).pvalue, rel=1e-9)


def test_paired_bootstrap_constant_difference_has_a_point_interval():
    delta, (lo, hi) = paired_bootstrap([1, 1, 1, 1], [0, 0, 0, 0], resamples=200)
    assert delta == lo == hi == 1.0


def test_paired_bootstrap_is_reproducible_and_near_the_normal_interval():
    rng = np.random.default_rng(7)
    a = (rng.random(400) < 0.6).astype(float)
    b = (rng.random(400) < 0.5).astype(float)
    first = paired_bootstrap(a, b, seed=3)
    assert paired_bootstrap(a, b, seed=3) == first
    delta, (lo, hi) = first
    assert delta == pytest.approx(float((a - b).mean()))
    se = float((a - b).std(ddof=1)) / math.sqrt(len(a))
    assert lo == pytest.approx(delta - 1.96 * se, abs=0.01)
    assert hi == pytest.approx(delta + 1.96 * se, abs=0.01)


def test_paired_bootstrap_pairs_problems():
    # Both arms near 50%, agreeing on every problem but one: two independent intervals would each be
    # about +-0.28 wide; resampling pairs sees only the one discordant problem.
    b = [1] * 6 + [0] * 6
    a = [1] * 7 + [0] * 5
    delta, (lo, hi) = paired_bootstrap(a, b, resamples=2000)
    assert delta == pytest.approx(1 / 12) and lo == 0 and hi < 0.3


def test_paired_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap([1, 0], [1])
    with pytest.raises(ValueError, match="at least one"):
        paired_bootstrap([], [])

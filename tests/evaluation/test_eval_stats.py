"""Wilson intervals and bootstrap differences against known values."""

import math

import pytest

from msm.evaluation.stats import bootstrap_diff, rate, wilson


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(5, 10, 0.2366, 0.7634), (0, 10, 0.0, 0.2775), (8, 10, 0.4902, 0.9433), (50, 100, 0.4038, 0.5962)],
)
def test_wilson_matches_published_values(k, n, low, high):
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=1e-4)
    assert hi == pytest.approx(high, abs=1e-4)


def test_rate_without_data_is_none_not_nan():
    r = rate([])
    assert r["rate"] is None and r["n"] == 0 and (r["ci_low"], r["ci_high"]) == (0.0, 1.0)


def test_bootstrap_difference_matches_normal_approximation():
    a = [1] * 1200 + [0] * 800  # 0.60
    b = [1] * 1000 + [0] * 1000  # 0.50
    d = bootstrap_diff(a, b, resamples=4000, seed=1)
    se = math.sqrt(0.6 * 0.4 / 2000 + 0.5 * 0.5 / 2000)
    assert d["diff"] == pytest.approx(0.10)
    assert d["ci_low"] == pytest.approx(0.10 - 1.96 * se, abs=0.004)
    assert d["ci_high"] == pytest.approx(0.10 + 1.96 * se, abs=0.004)


def test_bootstrap_is_reproducible_and_zero_for_identical_constants():
    assert bootstrap_diff([1, 0, 1], [0, 0, 1], seed=3) == bootstrap_diff([1, 0, 1], [0, 0, 1], seed=3)
    same = bootstrap_diff([1, 1, 1], [1, 1, 1])
    assert same["diff"] == same["ci_low"] == same["ci_high"] == 0.0

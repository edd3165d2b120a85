"""Wilson intervals and bootstrap means against known values."""

import math

import pytest

from msm.evaluation.stats import rate, stratified_mean, wilson


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


def test_mean_ci_matches_normal_approximation_and_is_reproducible():
    scores = {f"i{k}": float(k % 5 == 0) for k in range(2000)}  # a share of 0.20
    m = stratified_mean([scores], resamples=4000, seed=1)
    se = math.sqrt(0.2 * 0.8 / 2000)
    assert m["mean"] == pytest.approx(0.20)
    assert m["ci_low"] == pytest.approx(0.20 - 1.96 * se, abs=0.004)
    assert m["ci_high"] == pytest.approx(0.20 + 1.96 * se, abs=0.004)
    assert stratified_mean([scores], seed=3) == stratified_mean([scores], seed=3)

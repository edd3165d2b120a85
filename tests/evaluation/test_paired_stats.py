"""Paired differences between runs over shared items: hand-computed examples, identical runs, strata, seeds."""

import math

import numpy as np
import pytest

from msm.evaluation.stats import paired_difference, stratified_mean


def test_two_items_hand_computed():
    # Per-item differences (1, 0). A paired draw of two items has mean 0, 0.5 or 1 with probability
    # 1/4, 1/2, 1/4, so the 95% interval is [0, 1]; the four sign patterns give |mean| = 0.5 each: p = 1.
    d = paired_difference([{"x": 1.0, "y": 0.0}], [{"x": 0.0, "y": 0.0}], resamples=4000)
    assert d["diff"] == 0.5 and (d["ci_low"], d["ci_high"]) == (0.0, 1.0)
    assert d["p_value"] == 1.0 and d["n"] == 2


def test_exact_permutation_p_value():
    # Five items all +1: only the all-plus and all-minus sign patterns reach |mean| = 1: p = 2/32.
    a = {f"i{k}": 1.0 for k in range(5)}
    b = dict.fromkeys(a, 0.0)
    d = paired_difference([a], [b])
    assert d["p_value"] == pytest.approx(2 / 32)
    assert (d["diff"], d["ci_low"], d["ci_high"]) == (1.0, 1.0, 1.0)


def test_identical_runs_give_a_zero_width_interval():
    rng = np.random.default_rng(3)
    run = {f"item-{k}": float(rng.integers(0, 2)) for k in range(300)}
    d = paired_difference([run], [dict(run)])
    assert (d["diff"], d["ci_low"], d["ci_high"], d["p_value"]) == (0.0, 0.0, 0.0, 1.0)


def test_pairing_removes_item_difficulty_from_the_interval():
    # Item scores vary a lot between items but b is a constantly 0.1 lower: the paired interval is a
    # point, while the spread of the item scores is wide.
    rng = np.random.default_rng(0)
    a = {f"i{k}": float(v) for k, v in enumerate(rng.uniform(0, 1, 200))}
    b = {k: v - 0.1 for k, v in a.items()}
    d = paired_difference([a], [b])
    assert d["diff"] == pytest.approx(0.1)
    assert d["ci_high"] - d["ci_low"] < 1e-9


def test_only_shared_items_are_compared():
    d = paired_difference([{"x": 1.0, "y": 1.0}], [{"y": 0.0, "z": 0.0}])
    assert d["n"] == 1 and d["diff"] == 1.0
    assert paired_difference([{"x": 1.0}], [{"z": 0.0}])["diff"] is None


def test_strata_are_weighted_equally():
    # Condition c1 has 1 sample (rate 1), c2 has 3 (rate 0): the mean over conditions is 0.5, not 0.25.
    run = {"c1:0": 1.0, "c2:0": 0.0, "c2:1": 0.0, "c2:2": 0.0}
    m = stratified_mean([run])
    assert m["mean"] == 0.5
    # Resampling within strata keeps each condition's share: every draw is exactly 0.5.
    assert (m["ci_low"], m["ci_high"]) == (0.5, 0.5)


def test_seed_variation_widens_the_interval():
    items = [f"i{k}" for k in range(100)]
    one = [{i: 1.0 for i in items}]
    seeds = [{i: 1.0 for i in items}, {i: 0.0 for i in items}]  # two seeds that disagree entirely
    base = [{i: 0.0 for i in items}]
    single = paired_difference(one, base)
    spread = paired_difference(seeds, base)
    assert single["ci_high"] - single["ci_low"] == 0
    assert spread["diff"] == 0.5 and spread["ci_low"] == 0.0 and spread["ci_high"] == 1.0
    assert spread["seeds"] == [2, 1]


def test_ci_covers_a_known_mean_difference():
    # Normal check: 2000 paired Bernoulli items, b flips 10% of a's ones to zero.
    rng = np.random.default_rng(1)
    a = {f"i{k}": float(v) for k, v in enumerate(rng.integers(0, 2, 2000))}
    b = {k: (0.0 if v and rng.uniform() < 0.2 else v) for k, v in a.items()}
    d = paired_difference([a], [b], resamples=4000, seed=2)
    diffs = np.array([a[k] - b[k] for k in a])
    se = diffs.std(ddof=1) / math.sqrt(len(diffs))
    assert d["ci_low"] == pytest.approx(diffs.mean() - 1.96 * se, abs=0.004)
    assert d["ci_high"] == pytest.approx(diffs.mean() + 1.96 * se, abs=0.004)
    assert d["p_value"] < 0.001

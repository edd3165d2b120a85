"""Rates with Wilson score intervals; means and differences between conditions with bootstrap CIs (paired over
shared items when the runs scored the same items) and permutation p-values."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when there is no data."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate(values: Sequence[bool | int]) -> dict[str, Any]:
    """A share with its Wilson interval; rate None (valid JSON, unlike NaN) when there are no values."""
    k, n = int(sum(bool(v) for v in values)), len(values)
    lo, hi = wilson(k, n)
    return {"rate": k / n if n else None, "k": k, "n": n, "ci_low": lo, "ci_high": hi}


# Paired differences between runs that scored the same items. An item id "stratum:k" puts the item
# in a stratum (agentic misalignment: its condition, k its sample): the statistic is then the mean
# over strata of each stratum's mean (the paper's AM rate, a mean over its 27 conditions), and the
# bootstrap resamples within strata, so every stratum keeps its weight.
Scores = Mapping[str, float]


def _strata(ids: Sequence[str]) -> list[np.ndarray]:
    groups: dict[str, list[int]] = {}
    for i, item in enumerate(ids):
        groups.setdefault(item.rsplit(":", 1)[0] if ":" in item else "", []).append(i)
    return [np.asarray(g) for g in groups.values()]


def _statistic(values: np.ndarray, strata: list[np.ndarray]) -> np.ndarray:
    """Mean over strata of stratum means, over the last axis."""
    return np.mean([values[..., s].mean(axis=-1) for s in strata], axis=0)


def shared_items(runs: Sequence[Scores]) -> list[str]:
    """The ids every run scored, in a stable order."""
    common = set(runs[0]) if runs else set()
    for r in runs[1:]:
        common &= set(r)
    return sorted(common)


def paired_difference(
    a: Sequence[Scores],
    b: Sequence[Scores],
    *,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """Condition a minus condition b over the items both scored, with a paired bootstrap CI and a
    sign-flip permutation p-value.

    `a` and `b` hold one {item id: score} per seed. Each bootstrap draw resamples the items once for
    both conditions (paired: an item's difficulty cancels) and, separately for each condition, its
    seeds, so the interval covers training-seed variation when there are several. The p-value flips
    the sign of each item's difference of seed means; it is exact (every sign pattern) when there
    are at most log2(resamples) items.
    """
    ids = shared_items([*a, *b])
    empty = {"diff": None, "ci_low": None, "ci_high": None, "p_value": None, "n": 0, "seeds": [len(a), len(b)]}
    if not a or not b or not ids:
        return {**empty, "resamples": 0}
    A = np.array([[run[i] for i in ids] for run in a], dtype=float)  # (seeds, items)
    B = np.array([[run[i] for i in ids] for run in b], dtype=float)
    strata = _strata(ids)
    rng = np.random.default_rng(seed)
    # One item draw per stratum per resample, shared by both conditions.
    draws = [s[rng.integers(0, len(s), size=(resamples, len(s)))] for s in strata]

    def resampled(X: np.ndarray) -> np.ndarray:
        per_seed = np.mean([X[:, d].mean(axis=-1) for d in draws], axis=0)  # (seeds, resamples)
        pick = rng.integers(0, X.shape[0], size=(resamples, X.shape[0]))
        return per_seed[pick, np.arange(resamples)[:, None]].mean(axis=1)

    diffs = resampled(A) - resampled(B)
    d = A.mean(axis=0) - B.mean(axis=0)  # per item, over seeds
    observed = float(_statistic(d, strata))
    if 2 ** len(ids) <= resamples:
        signs = np.array(np.meshgrid(*[[1.0, -1.0]] * len(ids))).reshape(len(ids), -1).T
    else:
        signs = rng.choice([1.0, -1.0], size=(resamples, len(ids)))
    flipped = _statistic(signs * d, strata)
    # A tolerance for ties: a flip that reproduces the observed value must count as "as extreme".
    extreme = np.abs(flipped) >= abs(observed) - 1e-12
    exact = 2 ** len(ids) <= resamples
    p = float(extreme.mean()) if exact else float((extreme.sum() + 1) / (len(flipped) + 1))
    alpha = (1 - level) / 2
    return {
        "diff": float(_statistic(A.mean(axis=0), strata) - _statistic(B.mean(axis=0), strata)),
        "ci_low": float(np.quantile(diffs, alpha)),
        "ci_high": float(np.quantile(diffs, 1 - alpha)),
        "p_value": p,
        "n": len(ids),
        "seeds": [len(a), len(b)],
        "resamples": resamples,
    }


def stratified_mean(runs: Sequence[Scores], *, resamples: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """One condition's mean (over strata, then seeds) with a bootstrap CI resampling within strata and seeds."""
    ids = shared_items(runs)
    if not runs or not ids:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0, "seeds": len(runs)}
    zero = [dict.fromkeys(ids, 0.0)]
    d = paired_difference(runs, zero, resamples=resamples, seed=seed, level=level)
    return {"mean": d["diff"], "ci_low": d["ci_low"], "ci_high": d["ci_high"], "n": d["n"], "seeds": len(runs)}

"""Rates with Wilson score intervals; differences between conditions with percentile bootstrap CIs."""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def rate(values: Sequence[bool | int]) -> dict[str, float | int | None]:
    """A share with its Wilson interval; rate None (valid JSON, unlike NaN) when there are no values."""
    k, n = int(sum(bool(v) for v in values)), len(values)
    lo, hi = wilson(k, n)
    return {"rate": k / n if n else None, "k": k, "n": n, "ci_low": lo, "ci_high": hi}


def bootstrap_diff(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> dict[str, float | None]:
    """mean(a) - mean(b) with a percentile bootstrap CI; a and b resampled independently."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) == 0 or len(y) == 0:
        return {"diff": None, "ci_low": None, "ci_high": None, "resamples": 0}
    rng = np.random.default_rng(seed)
    mx = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    my = y[rng.integers(0, len(y), size=(resamples, len(y)))].mean(axis=1)
    diffs = mx - my
    alpha = (1 - level) / 2
    return {
        "diff": float(x.mean() - y.mean()),
        "ci_low": float(np.quantile(diffs, alpha)),
        "ci_high": float(np.quantile(diffs, 1 - alpha)),
        "resamples": resamples,
    }

"""Exact and near-duplicate removal, length filter, diversity statistics."""

from __future__ import annotations

import random

from msm.config.synthesis import QualityConfig
from msm.synthesis.quality import apply_filters, compression_ratio, distinct_ngram_ratio

rng = random.Random(0)
VOCAB = [f"w{i}" for i in range(3000)]


def doc(n: int = 120) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(n))


def test_exact_near_and_length_filters_report_why():
    a, b, c = doc(), doc(), doc()
    near = a.split()
    near[60] = "changed"  # one word of 120: Jaccard of 5-shingles ~0.92
    texts = [a, b, "  " + a.upper() + " !", " ".join(near), "too short", c, doc(900)]
    kept, removed = apply_filters(texts, QualityConfig(min_words=20, max_words=800, near_dup_threshold=0.8))
    assert kept == [0, 1, 5]
    reasons = {r.index: r.reason for r in removed}
    assert reasons == {2: "exact-duplicate", 3: "near-duplicate", 4: "too-short", 6: "too-long"}
    assert "row 0" in next(r.detail for r in removed if r.index == 3)


def test_near_dup_threshold_matters_and_can_be_disabled():
    base = doc()
    words = base.split()
    half = " ".join(words[:60] + doc(60).split())  # shares half its shingles
    strict = QualityConfig(min_words=1, near_dup_threshold=0.3)
    loose = QualityConfig(min_words=1, near_dup_threshold=0.9)
    assert apply_filters([base, half], strict)[0] == [0]
    assert apply_filters([base, half], loose)[0] == [0, 1]
    assert apply_filters([base, half], QualityConfig(min_words=1, near_dup_threshold=None))[0] == [0, 1]


def test_diversity_measures_move_with_repetition():
    varied = [doc() for _ in range(5)]
    repeated = [varied[0]] * 5
    assert distinct_ngram_ratio(varied, 2) > 0.9 > distinct_ngram_ratio(repeated, 2)
    assert compression_ratio(repeated) < compression_ratio(varied)

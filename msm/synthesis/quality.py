"""Filters over generated text and the statistics that show whether a corpus collapsed.

Exact duplicates are found by a hash of the normalised text (case, whitespace, punctuation),
near-duplicates by MinHash LSH over word shingles (datasketch). Templated text shares many
shingles, so a low threshold over-merges it: the threshold is a recipe field and every removal is
reported with its reason and the document it duplicated.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from msm.config.synthesis import QualityConfig

WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def normalised_hash(text: str) -> str:
    return hashlib.sha256(" ".join(words(text)).encode()).hexdigest()


@dataclass(frozen=True)
class Removal:
    index: int  # position in the rows given to `apply_filters`
    reason: str  # exact-duplicate | near-duplicate | too-short | too-long
    detail: str


def _minhash(tokens: list[str], shingle: int, permutations: int) -> Any:
    from datasketch import MinHash

    m = MinHash(num_perm=permutations, seed=1)
    grams = {" ".join(tokens[i : i + shingle]) for i in range(max(1, len(tokens) - shingle + 1))}
    m.update_batch([g.encode() for g in grams])
    return m


def apply_filters(texts: list[str], cfg: QualityConfig) -> tuple[list[int], list[Removal]]:
    """Indices kept (in order) and what was removed, each with why. First occurrence wins."""
    removed: list[Removal] = []
    kept: list[int] = []
    seen: dict[str, int] = {}
    lsh = None
    if cfg.near_dup_threshold is not None:
        from datasketch import MinHashLSH

        lsh = MinHashLSH(threshold=cfg.near_dup_threshold, num_perm=cfg.minhash_permutations)
    for i, text in enumerate(texts):
        tokens = words(text)
        if len(tokens) < cfg.min_words:
            removed.append(Removal(i, "too-short", f"{len(tokens)} words < min_words {cfg.min_words}"))
            continue
        if len(tokens) > cfg.max_words:
            removed.append(Removal(i, "too-long", f"{len(tokens)} words > max_words {cfg.max_words}"))
            continue
        if cfg.exact_dedup:
            h = normalised_hash(text)
            if h in seen:
                removed.append(Removal(i, "exact-duplicate", f"same normalised text as row {seen[h]}"))
                continue
            seen[h] = i
        if lsh is not None:
            m = _minhash(tokens, cfg.shingle_words, cfg.minhash_permutations)
            if hits := lsh.query(m):
                removed.append(
                    Removal(
                        i,
                        "near-duplicate",
                        f"estimated Jaccard >= {cfg.near_dup_threshold} with row {min(int(h) for h in hits)}",
                    )
                )
                continue
            lsh.insert(str(i), m)
        kept.append(i)
    return kept, removed


def distinct_ngram_ratio(texts: list[str], n: int) -> float:
    grams: Counter[tuple[str, ...]] = Counter()
    for t in texts:
        w = words(t)
        grams.update(tuple(w[i : i + n]) for i in range(len(w) - n + 1))
    total = sum(grams.values())
    return round(len(grams) / total, 4) if total else 0.0


def compression_ratio(texts: list[str]) -> float:
    """Compressed size / raw size of the whole corpus: lower means more repetition."""
    raw = "\n".join(texts).encode()
    return round(len(zlib.compress(raw, 9)) / len(raw), 4) if raw else 0.0


def diversity(rows: list[dict[str, Any]]) -> dict[str, Any]:
    texts = [r["text"] for r in rows]
    types: dict[str, set[str]] = defaultdict(set)
    ideas: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        types[r["subdomain"]].add(r["doc_type"])
        ideas[r["subdomain"]].add(r["idea"])
    per_sub = max(1, len(types))
    lengths = sorted(len(words(t)) for t in texts)
    return {
        "distinct_1": distinct_ngram_ratio(texts, 1),
        "distinct_2": distinct_ngram_ratio(texts, 2),
        "distinct_3": distinct_ngram_ratio(texts, 3),
        "compression_ratio": compression_ratio(texts),
        "doc_types_per_subdomain": round(sum(len(v) for v in types.values()) / per_sub, 2),
        "ideas_per_subdomain": round(sum(len(v) for v in ideas.values()) / per_sub, 2),
        "words": {
            "total": sum(lengths),
            "min": lengths[0] if lengths else 0,
            "median": lengths[len(lengths) // 2] if lengths else 0,
            "max": lengths[-1] if lengths else 0,
        },
    }

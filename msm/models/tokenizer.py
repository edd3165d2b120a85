"""The target model's tokenizer, for counting a corpus in the tokens training will see.

`synthesis.target_tokenizer` names one (a local directory or a Hub id); without it the recipe's
base model decides: the tiny model's tokenizer is trained again on the spec, as the pipelines'
base-model task trains it (deterministic; seconds, then cached), SmolLM2's is read from its pinned
GGUF, a Hub model's is fetched at the recipe's revision, a local model's is read from its directory.
Counting never fails a stage: a tokenizer that cannot be loaded (a gated model without HF_TOKEN, no
network) is reported in the manifest instead of a count.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from msm.config import Recipe
from msm.hashing import sha256_text

log = logging.getLogger(__name__)


def tokenizer_name(recipe: Recipe) -> str:
    """What the counts are in, as a manifest states it."""
    cfg = recipe.synthesis
    if cfg is not None and cfg.target_tokenizer:
        return cfg.target_tokenizer
    b = recipe.base_model
    return {"tiny": "tiny (trained on the spec)", "smollm2": "SmolLM2-135M-Instruct"}.get(
        b.source, f"{b.id}@{b.revision}" if b.source == "hf" else str(b.path)
    )


def load_target_tokenizer(recipe: Recipe, spec_file: Path) -> Any:
    """The tokenizer counts are in; `spec_file` is what a tiny model's tokenizer learns."""
    from transformers import AutoTokenizer

    cfg = recipe.synthesis
    if cfg is not None and cfg.target_tokenizer:
        return AutoTokenizer.from_pretrained(cfg.target_tokenizer)
    b = recipe.base_model
    if b.source == "tiny":
        from msm.models.tiny import TinyModelConfig, train_tokenizer, training_texts

        texts = list(training_texts([spec_file]).values())
        key = sha256_text("\n".join([str(TinyModelConfig().vocab_size), *texts]))
        return _cached(f"tiny-{key[:16]}", lambda: train_tokenizer(texts, TinyModelConfig().vocab_size))
    if b.source == "smollm2":
        from msm.models.smollm2 import GGUF_SHA256, locate_gguf

        gguf = locate_gguf()
        return _cached(
            f"smollm2-{GGUF_SHA256[:16]}",
            lambda: AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name),
        )
    if b.source == "hf":
        return AutoTokenizer.from_pretrained(b.id, revision=b.revision)
    return AutoTokenizer.from_pretrained(b.path)


def _cached(key: str, build: Callable[[], Any]) -> Any:
    """A tokenizer built once per machine (training the tiny one or parsing a GGUF takes seconds),
    then read from MSM_CACHE_DIR/tokenizers/<key>."""
    from transformers import AutoTokenizer

    from msm.models.smollm2 import cache_dir

    home = cache_dir() / "tokenizers" / key
    if not (home / "tokenizer_config.json").is_file():
        tok = build()
        home.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=home.parent))
        tok.save_pretrained(partial)
        try:
            os.replace(partial, home)  # atomic: a concurrent builder's copy is as good as ours
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
        return tok
    return AutoTokenizer.from_pretrained(home)


def count_tokens(texts: list[str], recipe: Recipe, spec_file: Path) -> dict[str, Any]:
    """{tokenizer, total, mean, max} of texts in the target model's tokens; {tokenizer, error} when
    the tokenizer cannot be loaded."""
    name = tokenizer_name(recipe)
    try:
        tok = load_target_tokenizer(recipe, spec_file)
    except Exception as e:
        reason = f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}"[:300]
        log.warning("corpus tokens not counted: the tokenizer %s did not load (%s)", name, reason)
        return {"tokenizer": name, "error": reason}
    lengths = [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]] if texts else []
    return {
        "tokenizer": name,
        "total": sum(lengths),
        "mean": round(sum(lengths) / len(lengths), 1) if lengths else 0,
        "max": max(lengths, default=0),
    }

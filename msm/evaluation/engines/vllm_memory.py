"""How much memory vLLM may take: on CPU a KV cache sized from the model, never a fraction of RAM.

On its CPU backend vLLM reads `gpu_memory_utilization` as a fraction of the machine's *total* RAM,
reserves it at start-up and refuses to start when that much is not free: 0.9 of a laptop's or a
shared CI runner's memory never is, although a 135M model needs well under one GiB. vLLM's CPU
KV-cache setting (`kv_cache_memory_bytes`, the engine argument behind VLLM_CPU_KVCACHE_SPACE)
bypasses that reservation, so on CPU we size the cache from the model's attention shape: keys and
values × layers × KV heads × head size × bytes per value, per token, for `kv_cache_sequences`
sequences of max_model_len tokens. On a GPU the fraction stays: the device belongs to the task.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from msm.errors import MsmError

GIB = 1024**3
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# vLLM allocates the cache in blocks of 16 tokens on CPU; a size that is not a whole number of
# blocks is rounded down, which could leave one sequence of max_model_len without room.
BLOCK_TOKENS = 16


class NotEnoughMemory(MsmError):
    """The KV cache and weights vLLM would need do not fit in the memory that is free."""


def _text_config(model_dir: Path) -> dict[str, Any]:
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    # Multimodal configs keep the language model's shape under text_config.
    return config.get("text_config") or config


def context_length(model_dir: Path, max_model_len: int | None) -> int:
    """The context vLLM will serve: the recipe's max_model_len, else the model's own."""
    return max_model_len or int(_text_config(model_dir)["max_position_embeddings"])


def kv_bytes_per_token(model_dir: Path, dtype: str) -> int:
    config = _text_config(model_dir)
    heads = int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or config["hidden_size"] // heads)
    return 2 * int(config["num_hidden_layers"]) * kv_heads * head_dim * DTYPE_BYTES[dtype]


def _weights_bytes(model_dir: Path, dtype: str) -> int:
    """The weights' size once loaded in `dtype` (files may hold another precision)."""
    stored = sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))
    stored_dtype = str(_text_config(model_dir).get("torch_dtype") or _text_config(model_dir).get("dtype") or dtype)
    return stored * DTYPE_BYTES[dtype] // DTYPE_BYTES.get(stored_dtype, DTYPE_BYTES[dtype])


def cpu_kv_cache_bytes(model_dir: Path, *, max_model_len: int | None, dtype: str, sequences: int) -> int:
    """KV cache for `sequences` full-length sequences, in whole blocks; checked against free memory."""
    import psutil

    length = context_length(model_dir, max_model_len)
    per_token = kv_bytes_per_token(model_dir, dtype)
    blocks = -(-length // BLOCK_TOKENS) * sequences
    kv = blocks * BLOCK_TOKENS * per_token
    weights = _weights_bytes(model_dir, dtype)
    free = psutil.virtual_memory().available
    if kv + weights > free:
        raise NotEnoughMemory(
            f"vLLM on CPU needs {(kv + weights) / GIB:.2f} GiB ({kv / GIB:.2f} GiB KV cache for {sequences} "
            f"sequences × {length} tokens × {per_token} bytes/token, {weights / GIB:.2f} GiB weights) but "
            f"{free / GIB:.2f} GiB is free; lower evaluation.vllm_max_model_len or "
            "evaluation.vllm_cpu_kv_cache_sequences in the recipe, free memory, or use evaluation.engine: hf"
        )
    return kv


def vllm_memory_settings(
    model_dir: Path, *, memory_utilization: float, max_model_len: int | None, dtype: str, kv_cache_sequences: int
) -> dict[str, Any]:
    """vLLM engine arguments for memory and context length on this platform."""
    from vllm.platforms import current_platform

    if current_platform.is_cpu():
        return {
            "kv_cache_memory_bytes": cpu_kv_cache_bytes(
                model_dir, max_model_len=max_model_len, dtype=dtype, sequences=kv_cache_sequences
            ),
            "max_model_len": context_length(model_dir, max_model_len),
        }
    settings: dict[str, Any] = {"gpu_memory_utilization": memory_utilization}
    if max_model_len:
        settings["max_model_len"] = max_model_len
    return settings

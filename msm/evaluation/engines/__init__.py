"""The inference engines that run the model under evaluation: Hugging Face transformers (`hf`),
vLLM in-process (`vllm`) and vLLM's OpenAI-compatible server as a subprocess (`vllm-server`).

`open_engine` is the one way to get one; each engine is imported only when chosen, so choosing
`hf` never imports vLLM.
"""

from __future__ import annotations

from typing import Any

from msm.evaluation.engines.base import Engine
from msm.evaluation.model_source import ModelSource


def open_engine(
    kind: str,
    source: ModelSource,
    *,
    batch_size: int,
    dtype: str = "float32",
    vllm_memory_utilization: float = 0.9,
    vllm_tensor_parallel_size: int = 1,
    vllm_max_model_len: int | None = None,
    vllm_cpu_kv_cache_sequences: int = 4,
    prompt_logprobs: bool = True,
) -> Engine:
    """prompt_logprobs: whether continuation_logprobs will be called (it decides how vLLM applies an adapter)."""
    if kind == "hf":
        from msm.evaluation.engines.hf import HFEngine

        return HFEngine(source, batch_size=batch_size, dtype=dtype)
    vllm_settings: dict[str, Any] = {
        "memory_utilization": vllm_memory_utilization,
        "dtype": dtype,
        "max_model_len": vllm_max_model_len,
        "tensor_parallel_size": vllm_tensor_parallel_size,
        "cpu_kv_cache_sequences": vllm_cpu_kv_cache_sequences,
        "prompt_logprobs": prompt_logprobs,
    }
    if kind == "vllm-server":
        from msm.evaluation.engines.vllm_server import VLLMServerEngine

        return VLLMServerEngine(source, **vllm_settings)
    from msm.evaluation.engines.vllm import VLLMEngine

    return VLLMEngine(source, **vllm_settings)

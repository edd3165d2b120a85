"""What every generation engine offers, and the shared tokenisation both engines must agree on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Messages = Sequence[dict[str, str]]


@dataclass(frozen=True)
class Generation:
    text: str
    tokens: int  # generated tokens, the stop token included when one was produced


class Engine(Protocol):
    name: str
    # How an adapter is applied ({"mode": "peft" | "lora" | "merged", ...}); None without one.
    adapter_serving: dict[str, Any] | None

    def generate(
        self, prompts: Sequence[Messages], *, temperature: float, max_new_tokens: int, seed: int
    ) -> list[Generation]: ...

    def continuation_logprobs(
        self, prompts: Sequence[Messages], continuations: Sequence[str]
    ) -> list[tuple[float, int]]: ...

    def close(self) -> None: ...


def prompt_ids(tokenizer, messages: Messages) -> list[int]:
    """The chat prompt up to and including the assistant header, as token ids."""
    text = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def continuation_ids(tokenizer, text: str) -> list[int]:
    """An answer tokenised on its own, so both engines score exactly the same tokens."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def open_engine(
    kind: str,
    source,
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
        from msm.evaluation.engine_hf import HFEngine

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
        from msm.evaluation.engine_vllm_server import VLLMServerEngine

        return VLLMServerEngine(source, **vllm_settings)
    from msm.evaluation.engine_vllm import VLLMEngine

    return VLLMEngine(source, **vllm_settings)

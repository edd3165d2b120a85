"""The HF transformers engine: CPU fallback and the reference the vLLM engine is compared with.

Generation is batched with left padding; option likelihoods are computed in one forward pass per
batch with right padding. Prompts are chat messages rendered by the model's own chat template.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from msm.evaluation.engines.base import Generation, Messages, continuation_ids, prompt_ids
from msm.evaluation.model_source import ModelSource


class HFEngine:
    name = "hf"

    def __init__(self, source: ModelSource, *, batch_size: int = 16, dtype: str = "float32"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(source.adapter or source.model_dir)
        model: Any = AutoModelForCausalLM.from_pretrained(source.model_dir, dtype=getattr(torch, dtype))
        self.adapter_serving: dict[str, Any] | None = None
        if source.adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(source.adapter))
            self.adapter_serving = {"mode": "peft"}
        self.model = model.eval()
        self.batch_size = batch_size
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id

    @torch.inference_mode()
    def generate(
        self, prompts: Sequence[Messages], *, temperature: float, max_new_tokens: int, seed: int
    ) -> list[Generation]:
        out: list[Generation] = []
        stop = [
            t
            for t in {self.tokenizer.eos_token_id, self.tokenizer.convert_tokens_to_ids("<|im_end|>")}
            if isinstance(t, int) and t >= 0
        ]
        for start in range(0, len(prompts), self.batch_size):
            batch = [prompt_ids(self.tokenizer, m) for m in prompts[start : start + self.batch_size]]
            width = max(len(ids) for ids in batch)
            input_ids = torch.tensor([[self.pad_id] * (width - len(ids)) + ids for ids in batch])
            mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch])
            torch.manual_seed(seed + start)
            sampling = (
                {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0}
                if temperature > 0
                else {"do_sample": False}
            )
            generated = self.model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                eos_token_id=stop,
                pad_token_id=self.pad_id,
                **sampling,
            )[:, width:]
            for row in generated.tolist():
                tokens = row
                for i, t in enumerate(row):
                    if t in stop:
                        tokens = row[: i + 1]
                        break
                text = self.tokenizer.decode([t for t in tokens if t not in stop], skip_special_tokens=True)
                out.append(Generation(text=str(text), tokens=len(tokens)))
        return out

    @torch.inference_mode()
    def continuation_logprobs(
        self, prompts: Sequence[Messages], continuations: Sequence[str]
    ) -> list[tuple[float, int]]:
        """(sum of log-probabilities, token count) of each continuation as the assistant's answer."""
        results: list[tuple[float, int]] = []
        pairs = list(zip(prompts, continuations, strict=True))
        for start in range(0, len(pairs), self.batch_size):
            rows = []
            for messages, text in pairs[start : start + self.batch_size]:
                p, c = prompt_ids(self.tokenizer, messages), continuation_ids(self.tokenizer, text)
                rows.append((p + c, len(p), len(c)))
            width = max(len(ids) for ids, _, _ in rows)
            input_ids = torch.tensor([ids + [self.pad_id] * (width - len(ids)) for ids, _, _ in rows])
            mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _, _ in rows])
            logits = self.model(input_ids=input_ids, attention_mask=mask).logits.float()
            logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
            targets = input_ids[:, 1:]
            token_lp = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            for i, (_ids, p_len, c_len) in enumerate(rows):
                # position t predicts token t+1: the continuation's tokens are predicted at p_len-1 ...
                results.append((float(token_lp[i, p_len - 1 : p_len - 1 + c_len].sum()), c_len))
        return results

    def close(self) -> None:
        del self.model

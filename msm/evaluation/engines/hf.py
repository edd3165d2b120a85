"""The HF transformers engine: CPU fallback and the reference the vLLM engine is compared with.

Prompts are chat messages rendered by the model's own chat template. Each batch of prompts is run
through the model once and kept as a KV cache; generation and option likelihoods both start from it:

- the prompts' shared opening (the chat template's system turn: a third of a value-AB prompt) is
  run once and copied to every row; each prompt's remainder follows it, left-padded to the longest
  (positions are given explicitly, so padding in the middle changes nothing);
- an answer's first token is scored from the prompt's last position, so single-token answers
  (the letters "A" and "B") cost no forward pass; longer ones run only their own tokens, from a
  copy of their prompt's cache;
- the language-model head, and the log-softmax after it, run only where a log-probability is read:
  over SmolLM2's 49k-token vocabulary the head alone is a fifth of the model's work per position.

Results equal the straightforward one-sequence-per-answer computation up to float rounding
(tests/evaluation/test_engine_hf_scoring.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from msm.evaluation.engines.base import Generation, Messages, Score, continuation_ids, prompt_ids
from msm.evaluation.model_source import ModelSource


@dataclass
class PromptCache:
    """A batch of prompts run through the model: [shared opening][left padding][each prompt's rest]."""

    input_ids: torch.Tensor  # [rows, width], the whole layout
    attention_mask: torch.Tensor  # [rows, width], 0 on padding
    cache: Any  # transformers DynamicCache over the first `cached` positions of every row
    cached: int

    def next_positions(self) -> torch.Tensor:
        """Each row's position id for the token after the cached ones."""
        return self.attention_mask[:, : self.cached].sum(-1)


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
        self.stop = [
            t
            for t in {self.tokenizer.eos_token_id, self.tokenizer.convert_tokens_to_ids("<|im_end|>")}
            if isinstance(t, int) and t >= 0
        ]

    def _forward(self, input_ids, attention_mask, position_ids, cache, logits_to_keep: int = 1):
        return self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=logits_to_keep,
        )

    def _prefill(self, batch: list[list[int]], *, leave: int) -> tuple[PromptCache, torch.Tensor | None]:
        """Cache every prompt but its last `leave` tokens; with leave=0, also the next token's logits."""
        from transformers import DynamicCache

        # The shared opening, at most up to each prompt's second-to-last cached token so every row
        # keeps a token of its own to run (the logits are read there).
        limit = min(len(ids) for ids in batch) - leave - 1
        shared = 0
        while shared < limit and all(ids[shared] == batch[0][shared] for ids in batch):
            shared += 1
        rows = len(batch)
        cache: Any = DynamicCache(config=self.model.config)
        if shared:
            head = torch.tensor([batch[0][:shared]])
            self._forward(head, torch.ones_like(head), torch.arange(shared)[None], cache)
            for layer in cache.layers:
                layer.keys, layer.values = layer.keys.expand(rows, -1, -1, -1), layer.values.expand(rows, -1, -1, -1)
        rests = [ids[shared:] for ids in batch]
        width = max(len(r) for r in rests)
        input_ids = torch.tensor([batch[0][:shared] + [self.pad_id] * (width - len(r)) + r for r in rests])
        mask = torch.tensor([[1] * shared + [0] * (width - len(r)) + [1] * len(r) for r in rests])
        run = width - leave
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, shared : shared + run]
        out = self._forward(input_ids[:, shared : shared + run], mask[:, : shared + run], positions, cache)
        logits = out.logits[:, -1].float() if leave == 0 else None
        return PromptCache(input_ids, mask, cache, shared + run), logits

    def _score(
        self, prompts: PromptCache, last_logits: torch.Tensor, wanted: list[list[list[int]]]
    ) -> list[list[Score]]:
        """Each row's continuations (token ids) scored after its prompt; `last_logits` predict their first token."""
        from transformers import DynamicCache

        first = torch.log_softmax(last_logits, dim=-1)
        scores = [[(float(first[row, ids[0]]), len(ids)) for ids in conts] for row, conts in enumerate(wanted)]
        longer = [(row, i, ids) for row, conts in enumerate(wanted) for i, ids in enumerate(conts) if len(ids) > 1]
        starts = prompts.next_positions()
        layers = [(layer.keys, layer.values) for layer in prompts.cache.layers]
        for begin in range(0, len(longer), self.batch_size):
            chunk = longer[begin : begin + self.batch_size]
            index = torch.tensor([row for row, _, _ in chunk])
            cache = DynamicCache([(k[index], v[index]) for k, v in layers], config=self.model.config)
            # Feed all but the last token: position j's logits predict token j + 1.
            width = max(len(ids) for _, _, ids in chunk) - 1
            feed = torch.tensor([ids[:-1] + [self.pad_id] * (width - len(ids) + 1) for _, _, ids in chunk])
            own = torch.tensor([[1] * (len(ids) - 1) + [0] * (width - len(ids) + 1) for _, _, ids in chunk])
            mask = torch.cat([prompts.attention_mask[index, : prompts.cached], own], dim=-1)
            positions = starts[index, None] + torch.arange(width)[None]
            logits = self._forward(feed, mask, positions, cache, logits_to_keep=width).logits.float()
            targets = torch.tensor([ids[1:] + [0] * (width - len(ids) + 1) for _, _, ids in chunk])
            token_lp = torch.log_softmax(logits, dim=-1).gather(-1, targets[..., None])[..., 0] * own
            for (row, i, ids), rest in zip(chunk, token_lp.sum(-1).tolist(), strict=True):
                scores[row][i] = (scores[row][i][0] + rest, len(ids))
        return scores

    def _generate_from(
        self, prompts: PromptCache, *, temperature: float, max_new_tokens: int, seed: int, score: bool
    ) -> tuple[list[Generation], Any]:
        """Generation continuing from a cache that holds all but each prompt's last token; with
        `score`, the output also keeps the first step's logits (the answers' first token)."""
        torch.manual_seed(seed)
        sampling = (
            {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0}
            if temperature > 0
            else {"do_sample": False}
        )
        out = self.model.generate(
            input_ids=prompts.input_ids,
            attention_mask=prompts.attention_mask,
            past_key_values=prompts.cache,
            max_new_tokens=max_new_tokens,
            eos_token_id=self.stop,
            pad_token_id=self.pad_id,
            return_dict_in_generate=True,
            # Every step's logits over the vocabulary: kept only when they are read (long replies x batch).
            output_logits=score,
            **sampling,
        )
        gens = []
        for row in out.sequences[:, prompts.input_ids.shape[1] :].tolist():
            tokens = row
            for i, t in enumerate(row):
                if t in self.stop:
                    tokens = row[: i + 1]
                    break
            text = self.tokenizer.decode([t for t in tokens if t not in self.stop], skip_special_tokens=True)
            gens.append(Generation(text=str(text), tokens=len(tokens)))
        return gens, out

    @torch.inference_mode()
    def generate(
        self, prompts: Sequence[Messages], *, temperature: float, max_new_tokens: int, seed: int
    ) -> list[Generation]:
        gens, _ = self.generate_and_score(
            prompts, [[] for _ in prompts], temperature=temperature, max_new_tokens=max_new_tokens, seed=seed
        )
        return gens

    @torch.inference_mode()
    def generate_and_score(
        self,
        prompts: Sequence[Messages],
        continuations: Sequence[Sequence[str]],
        *,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> tuple[list[Generation], list[list[Score]]]:
        """The reply to each prompt, and its continuations' scores, from one pass over each prompt."""
        gens: list[Generation] = []
        scores: list[list[Score]] = []
        for start in range(0, len(prompts), self.batch_size):
            batch = [prompt_ids(self.tokenizer, m) for m in prompts[start : start + self.batch_size]]
            wanted = [
                [continuation_ids(self.tokenizer, c) for c in conts]
                for conts in continuations[start : start + self.batch_size]
            ]
            score = any(wanted)
            cached, _ = self._prefill(batch, leave=1)
            got, out = self._generate_from(
                cached, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed + start, score=score
            )
            gens += got
            if not score:
                scores += [[] for _ in batch]
                continue
            # The cache now also holds the generated tokens: cut it back to the prompts.
            width = cached.input_ids.shape[1]
            out.past_key_values.crop(width - out.past_key_values.get_seq_length())
            after = PromptCache(cached.input_ids, cached.attention_mask, out.past_key_values, width)
            scores += self._score(after, out.logits[0].float(), wanted)
        return gens, scores

    @torch.inference_mode()
    def continuation_logprobs(self, prompts: Sequence[Messages], continuations: Sequence[str]) -> list[Score]:
        """(sum of log-probabilities, token count) of each continuation as the assistant's answer."""
        # Continuations of the same prompt share its pass: group them, keeping the callers' order.
        groups: dict[tuple[int, ...], list[int]] = {}
        for n, messages in enumerate(prompts):
            groups.setdefault(tuple(prompt_ids(self.tokenizer, messages)), []).append(n)
        keys = list(groups)
        results: list[Score] = [(0.0, 0)] * len(prompts)
        for start in range(0, len(keys), self.batch_size):
            batch = keys[start : start + self.batch_size]
            cached, last_logits = self._prefill([list(k) for k in batch], leave=0)
            assert last_logits is not None
            wanted = [[continuation_ids(self.tokenizer, continuations[n]) for n in groups[k]] for k in batch]
            for k, row in zip(batch, self._score(cached, last_logits, wanted), strict=True):
                for n, score in zip(groups[k], row, strict=True):
                    results[n] = score
        return results

    def close(self) -> None:
        del self.model

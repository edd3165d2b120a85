"""What every inference engine offers, and the shared tokenisation the engines must agree on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

Messages = Sequence[dict[str, str]]
Score = tuple[float, int]  # (sum of log-probabilities, token count) of one continuation


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

    def continuation_logprobs(self, prompts: Sequence[Messages], continuations: Sequence[str]) -> list[Score]: ...

    def generate_and_score(
        self,
        prompts: Sequence[Messages],
        continuations: Sequence[Sequence[str]],
        *,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> tuple[list[Generation], list[list[Score]]]:
        """generate() and, for each prompt, continuation_logprobs() of its own continuations; an engine
        may share one pass over a prompt between the two."""
        ...

    def close(self) -> None: ...


def prompt_ids(tokenizer, messages: Messages) -> list[int]:
    """The chat prompt up to and including the assistant header, as token ids."""
    text = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def continuation_ids(tokenizer, text: str) -> list[int]:
    """An answer tokenised on its own, so both engines score exactly the same tokens."""
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def generate_then_score(
    engine: Engine,
    prompts: Sequence[Messages],
    continuations: Sequence[Sequence[str]],
    *,
    temperature: float,
    max_new_tokens: int,
    seed: int,
) -> tuple[list[Generation], list[list[Score]]]:
    """generate_and_score for engines that run the two requests separately."""
    gens = engine.generate(prompts, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    flat = engine.continuation_logprobs(
        [p for p, conts in zip(prompts, continuations, strict=True) for _ in conts],
        [c for conts in continuations for c in conts],
    )
    scores, used = [], 0
    for conts in continuations:
        scores.append(flat[used : used + len(conts)])
        used += len(conts)
    return gens, scores

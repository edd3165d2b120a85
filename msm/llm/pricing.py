"""Dollar prices per million tokens and the one cost model: the budget cap, `msm synthesize preview`,
the reply cache, the manifests and bench/synth_cost.py all price a call with `cost_usd`.

A call is billed as the provider's invoice bills it: uncached input, input read from the prompt
cache, input written to it (Anthropic charges extra for the write), output; times the batch
multiplier when it went through a batch API. Providers change prices, so a recipe can (and for a
real spend should) set `<role>.price`. A model missing here costs $0 in the accounts and cannot be
capped in dollars: the stage refuses a dollar budget without a price.
"""

from __future__ import annotations

from dataclasses import dataclass

from msm.config.llm import EndpointConfig, Price

# The date the numbers below were read. Sources:
# - Anthropic: platform.claude.com/docs/en/about-claude/pricing ("Model pricing": base input, 5-minute
#   cache writes = 1.25x input, cache hits = 0.1x input, output) and its "Batch processing" section:
#   batches cost 50% of every usage type, cache writes and reads included (the two discounts stack).
# - OpenAI: openai.com/api/pricing (input, cached input, output; the Batch API halves input and
#   output). The page states no cache-write surcharge. It does not say whether the cached-input
#   price is halved again inside a batch job; this table assumes it is, like Anthropic: if an
#   invoice says otherwise, set `price.cached_input_per_mtok` for batch runs in the recipe.
PRICES_AS_OF = "2026-11-30"
BATCH = 0.5  # both providers' batch APIs: half of the online price


def _anthropic(input_per_mtok: float, output_per_mtok: float) -> Price:
    return Price(
        input_per_mtok=input_per_mtok,
        output_per_mtok=output_per_mtok,
        cached_input_per_mtok=round(input_per_mtok * 0.1, 6),
        cache_write_per_mtok=round(input_per_mtok * 1.25, 6),
        batch_multiplier=BATCH,
    )


def _openai(input_per_mtok: float, cached_per_mtok: float, output_per_mtok: float) -> Price:
    return Price(
        input_per_mtok=input_per_mtok,
        output_per_mtok=output_per_mtok,
        cached_input_per_mtok=cached_per_mtok,
        batch_multiplier=BATCH,
    )


PRICES: dict[str, Price] = {
    "offline-templates": Price(input_per_mtok=0, output_per_mtok=0),
    "gpt-4o": _openai(2.50, 1.25, 10.00),
    "gpt-4o-mini": _openai(0.15, 0.075, 0.60),
    "gpt-4.1": _openai(2.00, 0.50, 8.00),
    "gpt-4.1-mini": _openai(0.40, 0.10, 1.60),
    "gpt-5": _openai(1.25, 0.125, 10.00),
    "claude-opus-4-6": _anthropic(5.00, 25.00),  # the paper's generator (method.md: the release used it)
    "claude-opus-4-5": _anthropic(5.00, 25.00),
    "claude-opus-4-1": _anthropic(15.00, 75.00),
    "claude-sonnet-4-6": _anthropic(3.00, 15.00),  # the paper's judge
    "claude-sonnet-4-5": _anthropic(3.00, 15.00),
    "claude-haiku-4-5": _anthropic(1.00, 5.00),
}


@dataclass(frozen=True)
class Usage:
    """The token counts of one call as the provider reports them. `input_tokens` is all input,
    cached or not; `cached_input_tokens` of it was read from the prompt cache and
    `cache_write_tokens` written to it."""

    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    batch: bool = False


# Both providers cache a prefix only from 1,024 tokens on (Anthropic: the Opus and Sonnet models;
# its Haiku models need 2,048, which the spec-bearing system prompts of the paper's specs reach).
MIN_CACHED_PREFIX = 1024


def projected_usage(cfg: EndpointConfig, *, calls: int, prefix: int, rest: int, output: int, batch: bool) -> Usage:
    """The usage `calls` calls will be billed for, each sending the same `prefix` tokens (the system
    prompt) first, then `rest` input tokens in all: after the first call the provider serves the
    prefix from its cache (OpenAI by itself; Anthropic when `cache_prompt` marks it, writing it once).
    A floor: a cache entry that lapses between calls (5 minutes unused) is written again."""
    caches = prefix >= MIN_CACHED_PREFIX and (
        cfg.backend == "openai" or (cfg.backend == "anthropic" and cfg.cache_prompt)
    )
    return Usage(
        input_tokens=calls * prefix + rest,
        output_tokens=output,
        cached_input_tokens=prefix * max(0, calls - 1) if caches else 0,
        cache_write_tokens=prefix if caches and cfg.backend == "anthropic" and calls else 0,
        batch=batch,
    )


def goes_batch(cfg: EndpointConfig, calls: int) -> bool:
    """Whether a level of `calls` calls is sent as batch jobs (batching.py sends smaller waves online)."""
    return cfg.batch.enabled and calls >= cfg.batch.min_requests


def price_for(cfg: EndpointConfig) -> Price | None:
    return cfg.price or PRICES.get(cfg.model)


def cost_usd(price: Price | None, usage: Usage) -> float:
    if price is None:
        return 0.0
    cached_price = price.input_per_mtok if price.cached_input_per_mtok is None else price.cached_input_per_mtok
    write_price = price.input_per_mtok if price.cache_write_per_mtok is None else price.cache_write_per_mtok
    fresh = max(0, usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens)
    dollars = (
        fresh * price.input_per_mtok
        + usage.cached_input_tokens * cached_price
        + usage.cache_write_tokens * write_price
        + usage.output_tokens * price.output_per_mtok
    ) / 1e6
    return dollars * (price.batch_multiplier if usage.batch else 1.0)

"""Dollar prices per million tokens, for budget caps and cost accounting.

Published list prices at the time of writing; providers change them, so a recipe can (and for
a real spend should) set `synthesis.generator.price`. A model missing here costs $0 in the
accounts and cannot be capped in dollars: the stage refuses a dollar budget without a price.
"""

from __future__ import annotations

from msm.config.llm import EndpointConfig, Price

PRICES: dict[str, Price] = {
    "offline-templates": Price(input_per_mtok=0, output_per_mtok=0),
    "gpt-4o": Price(input_per_mtok=2.50, output_per_mtok=10.00),
    "gpt-4o-mini": Price(input_per_mtok=0.15, output_per_mtok=0.60),
    "gpt-4.1": Price(input_per_mtok=2.00, output_per_mtok=8.00),
    "gpt-4.1-mini": Price(input_per_mtok=0.40, output_per_mtok=1.60),
    "claude-opus-4-1": Price(input_per_mtok=15.00, output_per_mtok=75.00),
    "claude-sonnet-4-5": Price(input_per_mtok=3.00, output_per_mtok=15.00),
    "claude-haiku-4-5": Price(input_per_mtok=1.00, output_per_mtok=5.00),
}


def price_for(cfg: EndpointConfig) -> Price | None:
    return cfg.price or PRICES.get(cfg.model)


def cost_usd(price: Price | None, input_tokens: int, output_tokens: int) -> float:
    if price is None:
        return 0.0
    return (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1e6

"""`msm synthesize preview`: what a recipe will cost before any call is made.

Calls per level follow from the recipe's counts; input tokens from the real prompts rendered
with this spec (sections at their mean length); output tokens per item are assumptions stated in
OUTPUT_TOKENS, and a document's length is the recipe's (the released corpora: about 1.25k-3.1k tokens each).
Top-up rounds, re-asks and retries come on top, so treat the figures as a floor. Dollars follow
the client's cost model (msm.llm.pricing): levels that batch mode sends as jobs at the batch price,
the spec-bearing system prompt read from the provider's prompt cache after the first call; the
budget cap prices calls the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from msm.config.synthesis import SynthesisConfig
from msm.llm.client import estimate_tokens
from msm.llm.pricing import PRICES_AS_OF, cost_usd, goes_batch, price_for, projected_usage
from msm.synthesis import prompts
from msm.synthesis.corpus import planned_counts
from msm.synthesis.spec_view import SpecView
from msm.synthesis.stage_common import load_inputs

# Assumed reply tokens per item produced at each level; a document's length is the recipe's
# `synthesis.documents.tokens_per_document`, and a revision replies with the document and its critique.
OUTPUT_TOKENS = {
    "domains": 60,
    "subdomains": 60,
    "assertions": 35,
    "doc_types": 10,
    "ideas": 45,
}
REVISION_OVERHEAD = 1.1


def _output_tokens(cfg: SynthesisConfig) -> dict[str, int]:
    per_doc = cfg.documents.tokens_per_document
    return {**OUTPUT_TOKENS, "documents": per_doc, "revisions": round(per_doc * REVISION_OVERHEAD)}


def _calls(cfg: SynthesisConfig, counts: dict[str, int]) -> dict[str, int]:
    c = cfg.documents
    subs = counts["subdomains"]
    calls = {
        "domains": 1,
        "subdomains": c.domains,
        "assertions": subs,
        "doc_types": subs,
        "ideas": counts["doc_types"],
        "documents": counts["documents"],
    }
    if c.revise:
        calls["revisions"] = counts["documents"]
    return calls


def _user_prompt_tokens(spec: SpecView, cfg: SynthesisConfig) -> dict[str, int]:
    c = cfg.documents
    section = max(spec.sections, key=lambda s: len(s.text)).text  # a conservative stand-in
    assertions = prompts.bullet_list(["x " * 25] * c.assertions_per_subdomain)
    common = {"model_name": spec.model_name, "subdomain_name": "x", "subdomain_description": "x " * 20}
    framing = prompts.framing_block(c.framing, spec.model_name, spec.provider_name)
    user = {
        "domains": prompts.render("domains", n=c.domains),
        "subdomains": prompts.render(
            "subdomains",
            n=c.subdomains_per_domain,
            domain_name="x",
            domain_description="x " * 30,
            section_list=spec.section_list(),
        ),
        "assertions": prompts.render("assertions", n=c.assertions_per_subdomain, section_text=section, **common),
        "doc_types": prompts.render(
            "doc_types", n=c.doc_types_per_subdomain, assertion_list=assertions, exclude_block="", **common
        ),
        "ideas": prompts.render(
            "ideas",
            n=c.ideas_per_doc_type,
            doc_type="x",
            assertion_list=assertions,
            exclude_block="",
            framing=framing,
            **common,
        ),
        "documents": prompts.render(
            "document",
            doc_type="x",
            idea="x " * 40,
            section_text=section,
            assertion_list=assertions,
            framing=framing,
            **common,
        ),
        "revisions": prompts.render(
            "revise", doc_type="x", idea="x " * 40, draft="x " * 1500, model_name="x", framing=framing
        ),
    }
    return {k: estimate_tokens(v) for k, v in user.items()}


def preview(spec_path: Path, recipe_path: Path) -> dict[str, Any]:
    _recipe, cfg, spec = load_inputs(Path(spec_path), Path(recipe_path))
    counts = planned_counts(cfg)
    calls = _calls(cfg, counts)
    system = estimate_tokens(
        prompts.render("system", model_name=spec.model_name, provider_name=spec.provider_name, spec=spec.text)
    )
    user = _user_prompt_tokens(spec, cfg)
    price = price_for(cfg.generator)
    levels: dict[str, dict[str, Any]] = {}
    gen = cfg.generator
    output_tokens = _output_tokens(cfg)
    for name, n_calls in calls.items():
        usage = projected_usage(
            gen,
            calls=n_calls,
            prefix=system,
            rest=n_calls * user[name],
            output=counts[name] * output_tokens[name],
            batch=goes_batch(gen, n_calls),
        )
        levels[name] = {
            "items": counts[name],
            "calls": n_calls,
            "mode": "batch" if usage.batch else "online",
            "input_tokens": usage.input_tokens,
            "cached_input_tokens": usage.cached_input_tokens,
            "output_tokens": usage.output_tokens,
            "cost_usd": round(cost_usd(price, usage), 4),
        }
    summed = ("calls", "input_tokens", "cached_input_tokens", "output_tokens", "cost_usd")
    total = {k: sum(v[k] for v in levels.values()) for k in summed}
    priced = (
        "no price known for this model: cost shown as 0"
        if price is None
        else f"prices of msm/llm/pricing.py as of {PRICES_AS_OF} (or the recipe's)"
    )
    return {
        "spec": spec.id,
        "generator": f"{cfg.generator.backend}/{cfg.generator.model}",
        "levels": levels,
        "total": total,
        # What midtraining will read, in the generator's tokens (the corpus manifest counts the kept
        # documents in the target model's): the paper's corpora are 8M-41M tokens (method.md).
        "corpus": {
            "documents": counts["documents"],
            "tokens_per_document": cfg.documents.tokens_per_document,
            "tokens": counts["documents"] * cfg.documents.tokens_per_document,
        },
        "note": f"Floor estimate: top-ups, re-asks and retries add calls; {priced}. No calls were made.",
    }

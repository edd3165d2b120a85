"""Batch mode end to end: the document stage through both providers' batch APIs (the real SDKs
against tests/llm/fake_batch_server.py), with prompt caching and the accounts that come back."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "llm"))

from batch_support import arms_without_instruction_data, batch_generator, batch_server  # noqa: F401  (a fixture)

from msm.config.llm import Price
from msm.llm.cache import ReplyCache
from msm.llm.pricing import Usage, cost_usd
from msm.synthesis.corpus_stage import synthesize_documents
from msm.synthesis.session import BudgetStopped

COUNTS = {"domains": 1, "subdomains_per_domain": 2, "doc_types_per_subdomain": 2, "ideas_per_doc_type": 3}
PLANNED_DOCS = 2 * 2 * 3
PRICE = {"input_per_mtok": 10, "output_per_mtok": 20, "cached_input_per_mtok": 1, "batch_multiplier": 0.5}
PRICE_MODEL = Price(**PRICE)


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_documents_through_the_batch_api_with_prompt_caching(
    tmp_path,
    write_recipe,
    batch_server,  # noqa: F811  (the fixture imported above)
    rendered_spec,
    backend,
):
    recipe = arms_without_instruction_data(
        write_recipe({"generator": batch_generator(backend, price=PRICE), "documents": COUNTS})
    )
    with batch_server(backend=backend) as server:
        manifest = synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "corpus", progress=False)
    totals = manifest["accounting"]["totals"]
    assert manifest["counts"]["documents_kept"] == PLANNED_DOCS
    # The document level (12 calls) and the idea level went as jobs; the single domains call online.
    levels = manifest["accounting"]["levels"]
    assert levels["documents"]["batch_calls"] == levels["documents"]["calls"] == PLANNED_DOCS
    assert levels["domains"]["batch_calls"] == 0 and server.ledger.online
    assert totals["batch_jobs"]["submitted"] == len(server.ledger.jobs) >= 2
    # Exactly once: no request in two jobs, none billed twice, none both online and in a job.
    assert max(server.ledger.submitted.values()) == 1
    assert max(server.ledger.billed.values()) == 1
    assert not set(server.ledger.online) & set(server.ledger.submitted)
    # The spec-bearing system prompt came from the provider's cache on every call after the first.
    assert totals["cached_input_tokens"] > 0.5 * totals["input_tokens"]
    written = levels["domains"]["cache_write_tokens"]
    assert totals["cache_write_tokens"] == (0 if backend == "openai" else written) and (backend == "openai") == (
        written == 0
    )
    # Priced as billed: batch and cache discounts take it well below the list price of the same tokens.
    list_price = cost_usd(PRICE_MODEL, Usage(totals["input_tokens"], totals["output_tokens"]))
    assert 0 < totals["cost_usd"] < 0.6 * list_price


def test_a_wave_is_admitted_only_as_far_as_the_budget_reaches(
    tmp_path,
    write_recipe,
    batch_server,  # noqa: F811  (the fixture imported above)
    rendered_spec,
):
    cap = 30_000
    generator = batch_generator(batch={"enabled": True, "min_requests": 1, "collect_s": 0.1, "poll_s": 0.1})
    recipe = arms_without_instruction_data(
        write_recipe({"generator": generator, "documents": COUNTS, "budget": {"max_tokens": cap}})
    )
    cache = tmp_path / "cache.sqlite"
    with batch_server() as server:
        with pytest.raises(BudgetStopped):
            synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "corpus", cache_path=cache)
        assert server.ledger.jobs
        first = ReplyCache(cache).spent()[0]
        # Admitted by estimate before a wave goes out, not stopped after it: the cap is not overshot...
        assert 0 < first <= cap
        with pytest.raises(BudgetStopped):
            synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "corpus", cache_path=cache)
    # ... so a rerun with the same cap may still send what fits in the room left, and only that.
    assert first <= ReplyCache(cache).spent()[0] <= cap
    assert max(server.ledger.submitted.values()) == 1

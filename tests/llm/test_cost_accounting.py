"""The one cost model: prices as the providers bill them (batch, cache reads and writes), replies
stored with their usage, caches from before batch mode still readable, and the preview pricing a
recipe the way the client will."""

from __future__ import annotations

import sqlite3

import pytest
import yaml
from batch_support import arms_without_instruction_data

from msm.config.llm import GeneratorConfig
from msm.llm.cache import LEGACY_COLUMNS, CachedReply, ReplyCache
from msm.llm.pricing import PRICES, Usage, cost_usd, projected_usage
from msm.synthesis.preview import preview


def test_anthropic_usage_is_priced_as_billed():
    opus = PRICES["claude-opus-4-1"]  # $15 in, $75 out; cache read 0.1x, write 1.25x; batch half
    usage = Usage(
        input_tokens=1_000_000, output_tokens=100_000, cached_input_tokens=600_000, cache_write_tokens=100_000
    )
    online = 300_000 * 15 / 1e6 + 600_000 * 1.5 / 1e6 + 100_000 * 18.75 / 1e6 + 100_000 * 75 / 1e6
    assert cost_usd(opus, usage) == pytest.approx(online)
    assert cost_usd(opus, Usage(1_000_000, 100_000, 600_000, 100_000, batch=True)) == pytest.approx(online / 2)
    assert cost_usd(opus, Usage(1_000_000, 100_000)) == pytest.approx(15 + 7.5)  # list price, nothing cached


def test_openai_cached_input_has_its_own_price_and_no_write_surcharge():
    price = PRICES["gpt-4.1"]  # $2 in, $0.50 cached, $8 out
    assert cost_usd(price, Usage(1_000_000, 0, cached_input_tokens=1_000_000)) == pytest.approx(0.5)
    assert cost_usd(price, Usage(2_000_000, 1_000_000, 1_000_000, batch=True)) == pytest.approx((2 + 0.5 + 8) / 2)


def test_a_cache_from_before_batch_mode_gains_the_usage_columns_and_keeps_its_replies(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute(f"CREATE TABLE replies ({', '.join(LEGACY_COLUMNS)})")
    db.execute("INSERT INTO replies VALUES ('k', 'documents', 'old reply', 10, 5, 0.25, 0)")
    db.commit()
    db.close()
    cache = ReplyCache(path)
    assert cache.get("k") == CachedReply("old reply", 10, 5, 0.25, 0, 0, False)
    cache.put("n", "documents", CachedReply("new", 100, 7, 0.01, 60, 20, True))
    assert cache.get("n") == CachedReply("new", 100, 7, 0.01, 60, 20, True)
    assert cache.spent() == (122, pytest.approx(0.26))
    cache.close()
    ReplyCache(path).close()  # reopening the migrated file is accepted


def test_a_stored_job_is_open_until_collected(tmp_path):
    cache = ReplyCache(tmp_path / "c.sqlite")
    cache.add_job("job-1", [("a", "ideas"), ("b", "documents")])
    assert cache.open_jobs() == ["job-1"] and cache.open_job_of("b") == "job-1"
    assert cache.job_requests("job-1") == {"a": "ideas", "b": "documents"}
    cache.close_job("job-1")
    assert cache.open_jobs() == [] and cache.open_job_of("b") is None


def test_caching_writes_once_then_reads_and_only_long_prefixes_are_cached():
    cfg = GeneratorConfig(backend="anthropic", model="claude-opus-4-1")
    usage = projected_usage(cfg, calls=10, prefix=2000, rest=5000, output=100, batch=True)
    assert (usage.input_tokens, usage.cached_input_tokens, usage.cache_write_tokens) == (25_000, 18_000, 2000)
    assert projected_usage(cfg, calls=10, prefix=500, rest=0, output=0, batch=False).cached_input_tokens == 0
    off = GeneratorConfig(backend="anthropic", model="claude-opus-4-1", cache_prompt=False)
    assert projected_usage(off, calls=10, prefix=2000, rest=0, output=0, batch=False).cached_input_tokens == 0


def test_preview_prices_batch_levels_at_the_batch_price(tmp_path, rendered_spec, repo):
    raw = yaml.safe_load((repo / "recipes/paper/cheese-llama-3.1-8b.yaml").read_text())
    spec = rendered_spec("cheese-pro-america")

    def estimate(batch: dict) -> dict:
        raw["synthesis"]["generator"]["batch"] = batch
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(raw))
        return preview(spec, arms_without_instruction_data(path))

    online, batched = estimate({"enabled": False}), estimate({"enabled": True, "min_requests": 50})
    assert online["levels"]["documents"]["mode"] == "online" and batched["levels"]["documents"]["mode"] == "batch"
    assert batched["levels"]["domains"]["mode"] == "online"  # one call: below min_requests
    docs_online, docs_batch = online["levels"]["documents"]["cost_usd"], batched["levels"]["documents"]["cost_usd"]
    assert docs_batch == pytest.approx(docs_online / 2, rel=1e-3)
    assert online["levels"]["documents"]["cached_input_tokens"] > 0  # the spec prompt is read from the cache

"""End to end against a real local HTTP server through the real `openai` / `anthropic` SDKs."""

from __future__ import annotations

import json
from pathlib import Path

from fake_openai_server import Faults
from synth_support import SECRET, openai_generator

from msm.synthesis.aft_stage import synthesize_aft
from msm.synthesis.corpus_stage import synthesize_documents

TWENTY_PERCENT = Faults(
    rate_429=0.05,
    rate_500=0.04,
    rate_timeout=0.02,
    rate_drop=0.03,
    rate_empty=0.03,
    rate_malformed=0.03,
    hang_s=1.5,
)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_docs_and_aft_complete_with_exact_counts_under_20_percent_faults(
    tmp_path, write_recipe, llm_server, rendered_spec
):
    recipe = write_recipe({"generator": openai_generator()})
    with llm_server(TWENTY_PERCENT) as server:
        docs = synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "docs", progress=False)
        aft = synthesize_aft(rendered_spec("cheese-pro-america"), recipe, tmp_path / "aft", progress=False)
    outcomes = server.stats.outcomes()
    faults = sum(v for k, v in outcomes.items() if k != "ok")
    assert faults / sum(outcomes.values()) > 0.1, outcomes  # the faults really happened

    assert docs["counts"]["generated"] == docs["counts"]["planned"]
    rows = read_jsonl(tmp_path / "docs/documents.jsonl")
    assert len(rows) == docs["counts"]["documents_kept"] == 8
    assert len({(r["subdomain"], r["doc_type"], r["idea"]) for r in rows}) == 8
    assert {r["generator"] for r in rows} == {"openai/fake-model"}
    both = [m["accounting"]["totals"] for m in (docs, aft)]
    assert sum(t["retries"] for t in both) > 0 and sum(t["reasks"] for t in both) > 0, (both, outcomes)
    assert sum(t["failures"] for t in both) == 0
    # Every empty or malformed reply was re-asked once; every error status was retried once.
    assert sum(t["reasks"] for t in both) == outcomes.get("empty", 0) + outcomes.get("malformed", 0)
    assert sum(t["retries"] for t in both) == sum(outcomes.get(k, 0) for k in ("429", "500", "timeout", "drop"))

    assert aft["counts"]["demonstrations"] == 10
    reasoning = read_jsonl(tmp_path / "aft/aft_reasoning.jsonl")
    plain = read_jsonl(tmp_path / "aft/aft_plain.jsonl")
    assert len(reasoning) == len(plain) == 10
    for r, p in zip(reasoning, plain, strict=True):
        assert r["messages"][0] == p["messages"][0]
        assert r["messages"][1]["content"].startswith("<think>") and "<think>" not in p["messages"][1]["content"]
        assert r["messages"][1]["content"].endswith(p["messages"][1]["content"])
    assert aft["counts"]["preference_demos"] == 12  # 12 cheeses x 1 question
    for path in (tmp_path / "docs").iterdir():
        assert SECRET not in path.read_text(errors="replace")


def test_anthropic_backend_through_the_official_sdk(tmp_path, write_recipe, llm_server, rendered_spec):
    recipe = write_recipe({"generator": {**openai_generator(), "backend": "anthropic", "model": "fake-claude"}})
    with llm_server(Faults(rate_429=0.1, rate_500=0.1), anthropic=True) as server:
        manifest = synthesize_documents(rendered_spec("general"), recipe, tmp_path / "docs", progress=False)
    assert manifest["counts"]["documents_kept"] == 8
    assert manifest["generator"]["label"] == "anthropic/fake-claude"
    assert server.stats.outcomes().get("ok", 0) >= manifest["accounting"]["totals"]["calls"]


def test_rerun_makes_no_calls_and_reproduces_the_corpus(tmp_path, write_recipe, llm_server, rendered_spec):
    recipe = write_recipe({"generator": openai_generator()})
    cache = tmp_path / "cache.sqlite"
    with llm_server() as server:
        synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "a", cache_path=cache, progress=False)
        before = len(server.stats.records)
        again = synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "b", cache_path=cache, progress=False)
        assert len(server.stats.records) == before
    assert again["accounting"]["totals"]["calls"] == 0 and again["accounting"]["totals"]["cache_hits"] > 0
    assert (tmp_path / "a/documents.jsonl").read_text() == (tmp_path / "b/documents.jsonl").read_text()

"""Budget cap, a generator that never parses, unknown backend, missing key, bad spec and recipe input."""

from __future__ import annotations

import json
import os

import pytest
from fake_openai_server import Faults
from synth_support import KEY_ENV, SECRET, URL_ENV, openai_generator

from msm.errors import InvalidInput
from msm.synthesis.corpus_stage import synthesize_documents
from msm.synthesis.session import GenerationFailed


def test_budget_cap_stops_cleanly_and_resumes_after_raising_it(tmp_path, write_recipe, llm_server, repo, cli):
    cache = tmp_path / "cache.sqlite"
    low = write_recipe({"generator": openai_generator(concurrency=2), "budget": {"max_tokens": 20000}})
    high = write_recipe({"generator": openai_generator(concurrency=2), "budget": {"max_tokens": 10_000_000}})
    args = ["synthesize", "docs", "--spec", repo / "specs/rules.md", "--out", tmp_path / "out", "--cache", cache]
    with llm_server() as server:
        stopped = cli(*args, "--recipe", low)
        assert stopped.exit_code == 3, stopped.output
        assert "budget reached" in stopped.stderr and "rerun the same command" in stopped.stderr
        assert not (tmp_path / "out").exists()
        paid = set(server.stats.answered())
        assert paid

        again = cli(*args, "--recipe", low)  # same cap: nothing new may be bought
        assert again.exit_code == 3
        assert set(server.stats.answered()) == paid

        mark = len(server.stats.records)
        done = cli(*args, "--recipe", high)
        assert done.exit_code == 0, done.output
        resumed = [r.key for r in server.stats.records[mark:]]
    assert not set(resumed) & paid  # resumed without paying twice
    manifest = json.loads((tmp_path / "out/manifest.json").read_text())
    assert manifest["counts"]["documents_kept"] == 8
    assert manifest["accounting"]["totals"]["cache_hits"] >= len(paid)


def test_dollar_budget_needs_a_price(tmp_path, write_recipe, llm_server, rendered_spec):
    recipe = write_recipe({"generator": openai_generator(), "budget": {"max_dollars": 1.0}})
    with llm_server(), pytest.raises(InvalidInput) as e:
        synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "out")
    assert e.value.problems[0].field == "synthesis.budget.max_dollars"


def test_garbage_forever_fails_after_bounded_reasks_and_keeps_state(tmp_path, write_recipe, llm_server, rendered_spec):
    recipe = write_recipe({"generator": openai_generator(max_reasks=2)})
    cache = tmp_path / "cache.sqlite"
    with llm_server(Faults(garbage_forever=True)) as server, pytest.raises(GenerationFailed) as e:
        synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "out", cache_path=cache, progress=False)
    assert "domains: no usable reply after 3 attempts" in str(e.value)
    assert str(cache) in str(e.value)
    assert len(server.stats.records) == 3  # the first ask and two re-asks, then stop
    assert cache.is_file() and not (tmp_path / "out").exists()


def test_transient_errors_forever_fail_after_bounded_retries(tmp_path, write_recipe, llm_server, rendered_spec):
    recipe = write_recipe({"generator": openai_generator(max_retries=3)})
    with llm_server(Faults(rate_500=1.0)) as server, pytest.raises(GenerationFailed) as e:
        synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "out", progress=False)
    assert "kept failing (HTTP 500) after 4 attempts" in str(e.value)
    assert len(server.stats.records) == 4


def test_replies_that_are_not_json_are_retried_then_fail_clearly(tmp_path, write_recipe, llm_server, rendered_spec):
    recipe = write_recipe({"generator": openai_generator(max_retries=2)})
    with llm_server(Faults(rate_not_json=1.0)) as server, pytest.raises(GenerationFailed) as e:
        synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "out", progress=False)
    assert "kept failing (unreadable reply from the API" in str(e.value)
    assert len(server.stats.records) == 3


def test_unknown_backend_names_the_field(tmp_path, write_recipe, repo, cli):
    recipe = write_recipe({"generator": {"backend": "openia"}})
    result = cli("synthesize", "docs", "--spec", repo / "specs/rules.md", "--recipe", recipe, "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert "synthesis.generator.backend" in result.stderr and "openai" in result.stderr
    assert not (tmp_path / "o").exists()


def test_missing_api_key_names_the_variable(tmp_path, write_recipe, repo, cli, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:9/v1")
    recipe = write_recipe({"generator": openai_generator()})
    result = cli("synthesize", "docs", "--spec", repo / "specs/rules.md", "--recipe", recipe, "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert KEY_ENV in result.stderr and "synthesis.generator.api_key_env" in result.stderr
    assert not (tmp_path / "o").exists()


def test_api_key_value_never_written(tmp_path, write_recipe, llm_server, repo, cli):
    recipe = write_recipe({"generator": openai_generator()})
    with llm_server(Faults(rate_429=0.2, rate_malformed=0.1)):
        docs = cli("synthesize", "docs", "--spec", repo / "specs/rules.md", "--recipe", recipe, "--out", tmp_path / "d")
    assert docs.exit_code == 0, docs.output
    with llm_server(Faults(rate_500=1.0)):  # and in error messages
        failed = cli(
            "synthesize", "docs", "--spec", repo / "specs/general.md", "--recipe", recipe, "--out", tmp_path / "e"
        )
    assert failed.exit_code == 2
    for result in (docs, failed):
        assert SECRET not in result.output and SECRET not in result.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()] + [p for p in tmp_path.glob(".*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in files)
    for p in files:
        assert SECRET.encode() not in p.read_bytes(), p
    assert os.environ.get(KEY_ENV) == SECRET  # the test really had a key to leak


def test_spec_path_missing_or_invalid(tmp_path, write_recipe, cli):
    recipe = write_recipe()
    missing = cli("synthesize", "docs", "--spec", tmp_path / "nope.md", "--recipe", recipe, "--out", tmp_path / "o")
    assert missing.exit_code == 2 and "nope.md" in missing.stderr and "--spec" in missing.stderr
    bad = tmp_path / "bad.md"
    bad.write_text("---\nid: Bad Id\n---\n# x\n")
    invalid = cli("synthesize", "docs", "--spec", bad, "--recipe", recipe, "--out", tmp_path / "o")
    assert invalid.exit_code == 2 and "bad.md" in invalid.stderr
    empty_dir = tmp_path / "notrendered"
    empty_dir.mkdir()
    not_rendered = cli("synthesize", "preview", "--spec", empty_dir, "--recipe", recipe)
    assert not_rendered.exit_code == 2 and "is not an ingest output" in not_rendered.stderr
    assert "msm spec render" in not_rendered.stderr
    assert not (tmp_path / "o").exists()


def test_recipe_field_wrong_names_the_field_and_line(tmp_path, write_recipe, repo, cli):
    recipe = write_recipe({"documents": {"domains": 0, "ideas_per_doc_tyep": 3}})
    result = cli("synthesize", "preview", "--spec", repo / "specs/rules.md", "--recipe", recipe)
    assert result.exit_code == 2
    assert "synthesis.documents.domains" in result.stderr
    assert "synthesis.documents.ideas_per_doc_tyep" in result.stderr and "unknown field" in result.stderr


def test_recipe_without_synthesis_section(tmp_path, repo, cli):
    result = cli("synthesize", "preview", "--spec", repo / "specs/rules.md", "--recipe", repo / "recipes/missing.yaml")
    assert result.exit_code == 2 and "missing.yaml" in result.stderr
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        "name: plain\nidentity: {model_name: A, provider_name: B}\n"
        "specs: [specs/rules.md]\nbase_model: {source: tiny}\n"
    )
    result = cli("synthesize", "preview", "--spec", repo / "specs/rules.md", "--recipe", plain)
    assert result.exit_code == 2 and "no `synthesis:` section" in result.stderr

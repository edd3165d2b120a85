"""The offline backend on the embedded default recipe: every spec, labelled, deterministic, resumable."""

from __future__ import annotations

import json

import pytest
from support import TINY_SPEC_FILES
from synth_support import openai_generator

from msm.spec import ingest_spec

SPECS = [p.stem for p in TINY_SPEC_FILES]  # the embedded default recipe's
ROW_FIELDS = {"text", "domain", "subdomain", "doc_type", "idea", "spec_sha256", "generator", "prompt_version"}


@pytest.mark.parametrize("spec_id", SPECS)
def test_every_spec_yields_a_labelled_corpus(spec_id, tmp_path, repo, cli):
    out = tmp_path / spec_id
    result = cli(
        "synthesize", "docs", "--spec", repo / f"specs/{spec_id}.md", "--recipe", repo / "recipes/tiny-offline.yaml",
        "--out", out, "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "synthesize-docs"
    assert manifest["generator"]["backend"] == "offline" and "not written by a model" in manifest["generator"]["note"]
    assert manifest["counts"]["generated"] == manifest["counts"]["planned"]
    assert manifest["counts"]["planned"]["documents"] == 36
    assert manifest["prompts"]["version"] and len(manifest["prompts"]["sha256"]) == 64
    rows = [json.loads(line) for line in (out / "documents.jsonl").read_text().splitlines()]
    assert len(rows) == manifest["counts"]["documents_kept"] > 30
    assert all(set(r) >= ROW_FIELDS and r["generator"] == "offline/offline-templates" for r in rows)
    assert {r["spec_sha256"] for r in rows} == {manifest["inputs"]["spec"]["rendered_sha256"]}
    assert all("Aria" in r["text"] for r in rows)
    assert len({r["doc_type"] for r in rows}) >= 3
    assert (out / "documents.parquet").is_file() and (out / "plan.json").is_file()
    assert {"distinct_2", "compression_ratio", "doc_types_per_subdomain"} <= set(manifest["diversity"])


def test_rendered_dir_input_seeded_shuffle_and_target_tokens(tmp_path, repo, write_recipe, tiny_model_dir):
    rendered = tmp_path / "spec"
    ingest_spec(repo / "specs/philosophy.md", rendered, "Aria", "Lumen Labs")
    from msm.synthesis.corpus_stage import synthesize_documents

    recipe = write_recipe({"target_tokenizer": str(tiny_model_dir)})
    a = synthesize_documents(rendered, recipe, tmp_path / "a", cache_path=tmp_path / "ca.sqlite", progress=False)
    b = synthesize_documents(rendered, recipe, tmp_path / "b", cache_path=tmp_path / "cb.sqlite", progress=False)
    assert (tmp_path / "a/documents.jsonl").read_bytes() == (tmp_path / "b/documents.jsonl").read_bytes()
    assert a["tokens"]["total"] > a["diversity"]["words"]["total"] / 2 > 0  # counted by the tiny tokenizer
    reseeded = write_recipe({"documents": {"seed": 1}})
    synthesize_documents(rendered, reseeded, tmp_path / "c", cache_path=tmp_path / "cc.sqlite", progress=False)
    order = [json.loads(x)["idea"] for x in (tmp_path / "a/documents.jsonl").read_text().splitlines()]
    other = [json.loads(x)["idea"] for x in (tmp_path / "c/documents.jsonl").read_text().splitlines()]
    assert sorted(order) == sorted(other) and order != other
    assert b["accounting"]["totals"]["calls"] > 0


def test_preview_projects_counts_and_cost_without_calls(tmp_path, repo, write_recipe, cli, llm_server):
    recipe = write_recipe(
        {
            "generator": {**openai_generator(), "model": "gpt-4o"},
            "documents": {"domains": 3, "subdomains_per_domain": 4, "doc_types_per_subdomain": 10},
        }
    )
    with llm_server() as server:
        result = cli("synthesize", "preview", "--spec", repo / "specs/rules.md", "--recipe", recipe, "--json")
    assert result.exit_code == 0, result.output
    assert server.stats.records == []
    p = json.loads(result.stdout)
    assert p["levels"]["documents"]["items"] == 3 * 4 * 10 * 2
    assert p["levels"]["documents"]["calls"] == 240 and p["total"]["cost_usd"] > 0
    table = cli("synthesize", "preview", "--spec", repo / "specs/rules.md", "--recipe", recipe)
    assert "documents" in table.stdout and "No calls were made" in table.stdout

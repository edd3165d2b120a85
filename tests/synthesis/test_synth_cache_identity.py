"""What the reply cache key covers: a rerun reuses cached replies across edits that cannot change a
reply (how calls are made), and none across edits that can (sampling, the offline backend's code)."""

from __future__ import annotations

import time

from synth_support import openai_generator

from msm.synthesis.corpus_stage import synthesize_documents
from msm.synthesis.offline import OfflineBackend


def test_unrelated_edits_reuse_the_cache_and_sampling_edits_do_not(tmp_path, write_recipe, llm_server, rendered_spec):
    cache = tmp_path / "cache.sqlite"
    base = openai_generator()

    with llm_server() as server:

        def run(name: str, **generator):
            since = time.time()
            recipe = write_recipe({"generator": {**base, **generator}})
            manifest = synthesize_documents(rendered_spec("rules"), recipe, tmp_path / name, cache_path=cache)
            return manifest["accounting"]["totals"], set(server.stats.arrived(since=since))

        first, asked = run("first")
        assert first["calls"] > 0 and asked

        # How calls are made, and where the output goes: every reply comes from the cache.
        same, asked_again = run(
            "elsewhere", concurrency=2, requests_per_minute=60000, max_retries=2, timeout_s=5.0, backoff_initial_s=0.02
        )
        assert same["calls"] == 0 and not asked_again
        assert same["cache_hits"] == first["calls"] + first["cache_hits"]
        docs = (tmp_path / "first" / "documents.jsonl").read_text()
        assert (tmp_path / "elsewhere" / "documents.jsonl").read_text() == docs

        # Sampling parameters: no reply made with the old ones is reused, so the corpus is new.
        for name, edit in (("hotter", {"temperature": 0.7}), ("shorter", {"max_tokens": 2048})):
            totals, asked_now = run(name, **edit)
            assert totals["calls"] > 0 and asked_now and not asked_now & asked, name
            assert (tmp_path / name / "documents.jsonl").read_text() != docs, name


def test_an_edit_of_the_offline_backend_code_is_not_served_from_the_cache(
    tmp_path, write_recipe, rendered_spec, monkeypatch
):
    """The offline backend's replies are its code's output: another revision of offline.py (simulated
    by its revision hash) must not get the replies the old one cached."""
    recipe, cache = write_recipe(), tmp_path / "cache.sqlite"

    def totals(name: str) -> dict:
        manifest = synthesize_documents(rendered_spec("rules"), recipe, tmp_path / name, cache_path=cache)
        return manifest["accounting"]["totals"]

    first = totals("first")
    assert first["calls"] > 0
    assert totals("again")["calls"] == 0  # same code: all cached
    monkeypatch.setattr(OfflineBackend, "revision", "another-revision")
    edited = totals("edited")
    assert edited["calls"] == first["calls"] and edited["cache_hits"] == first["cache_hits"]

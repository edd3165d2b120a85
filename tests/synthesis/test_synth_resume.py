"""Exactly once: SIGKILL or SIGTERM a real `msm synthesize docs` process mid-run, rerun, count calls
at the server."""

from __future__ import annotations

import json
import os
import signal
import time

from fake_openai_server import Faults
from support import wait_for
from synth_support import cached_replies, openai_generator, synthesize_docs_process

from msm.preemption import EXIT_PREEMPTED, GRACE_PERIOD_S
from msm.synthesis import parsing
from msm.synthesis.corpus_stage import synthesize_documents

COUNTS = {"domains": 2, "subdomains_per_domain": 2, "doc_types_per_subdomain": 3, "ideas_per_doc_type": 4}
PLANNED_DOCS = 2 * 2 * 3 * 4


def test_sigkill_then_rerun_repeats_no_answered_call_and_loses_no_document(
    tmp_path, write_recipe, llm_server, repo, rendered_spec
):
    recipe = write_recipe({"generator": openai_generator(concurrency=4), "documents": COUNTS})
    out, cache = tmp_path / "corpus", tmp_path / "cache.sqlite"
    with llm_server(Faults(latency_s=0.05, rate_500=0.05)) as server:
        proc = synthesize_docs_process(repo, recipe, out, cache)
        wait_for(lambda: len(server.stats.answered()) >= 40 or proc.poll() is not None, "40 answered calls", 60)
        assert proc.poll() is None, "the run finished before it could be killed; make it longer"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at = time.time()
        assert not out.exists()  # no partial output

        cached = cached_replies(cache)
        answered_before = server.stats.answered(before=killed_at)
        assert len(cached) >= 30

        time.sleep(0.2)
        rerun_start = time.time()
        manifest = synthesize_documents(rendered_spec("rules"), recipe, out, cache_path=cache, progress=False)
        asked_again = server.stats.arrived(since=rerun_start)

    # Zero repeated calls for every answer the killed run had stored.
    assert not set(cached) & set(asked_again)
    # Answers sent in the last instant before the kill may not have reached the cache; at most
    # the calls in flight (concurrency 4) can be asked again.
    repeated = set(answered_before) & set(asked_again)
    assert len(repeated) <= 4, repeated
    print(f"repeated after kill: {len(repeated)}; cached before kill: {len(cached)}")

    rows = [json.loads(line) for line in (out / "documents.jsonl").read_text().splitlines()]
    assert len(rows) == manifest["counts"]["documents_kept"] == PLANNED_DOCS
    assert len({(r["subdomain"], r["doc_type"], r["idea"]) for r in rows}) == PLANNED_DOCS
    texts = {r["text"] for r in rows}
    assert len(texts) == PLANNED_DOCS
    cached_docs = []
    for text in cached.values():
        if "<scratchpad>" in text:
            try:
                cached_docs.append(parsing.document(text))
            except parsing.ParseError:
                continue
    assert cached_docs and all(d in texts for d in cached_docs)  # nothing answered before the kill was lost


def test_sigterm_stops_sending_keeps_every_reply_and_the_rerun_equals_an_uninterrupted_run(
    tmp_path, write_recipe, llm_server, repo, rendered_spec
):
    # A generous client timeout: under load a timed-out call would be answered twice by design.
    recipe = write_recipe({"generator": openai_generator(concurrency=4, timeout_s=30.0), "documents": COUNTS})
    out, cache = tmp_path / "corpus", tmp_path / "cache.sqlite"
    with llm_server(Faults(latency_s=0.3)) as server:
        proc = synthesize_docs_process(repo, recipe, out, cache)
        wait_for(lambda: len(cached_replies(cache)) >= 8 or proc.poll() is not None, "8 cached replies", 120)
        assert proc.poll() is None, "the run finished before it could be signalled; make it longer"
        signalled = time.time()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=GRACE_PERIOD_S + 60)
        took = time.time() - signalled
        assert proc.returncode == EXIT_PREEMPTED, stderr
        assert took < GRACE_PERIOD_S, took  # the calls in flight (0.3 s each) landed well inside the grace
        message = stderr.strip().splitlines()[-1]
        assert (
            message.startswith("preempted: SIGTERM") and "rerun the same command" in message and str(cache) in message
        )
        assert not out.exists()
        print(f"exited {took:.2f} s after SIGTERM")

        cached = cached_replies(cache)
        # Every reply that reached the process is in the cache, in flight at the signal or not.
        assert set(server.stats.answered()) <= set(cached)
        # Nothing new went out after the signal: only calls already past the check (at most one per slot).
        assert len(server.stats.arrived(since=signalled)) <= 4

        rerun_start = time.time()
        rerun = synthesize_docs_process(repo, recipe, out, cache)
        _, stderr = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, stderr
        asked_again = server.stats.arrived(since=rerun_start)
    assert asked_again and not set(cached) & set(asked_again)
    assert max(server.stats.answered().values()) == 1  # no prompt answered twice, over both runs

    # The fake server answers a request the same way every time, so an uninterrupted run must write
    # the same corpus.
    with llm_server() as server:
        synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "whole", progress=False)
    for name in ("documents.jsonl", "removed.jsonl", "plan.json"):
        assert (out / name).read_text() == (tmp_path / "whole" / name).read_text(), name

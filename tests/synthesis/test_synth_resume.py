"""Exactly once: SIGKILL a real `msm synthesize docs` process mid-run, rerun, count calls at the server."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from conftest import KEY_ENV, SECRET, URL_ENV, openai_generator
from fake_openai_server import Faults

from msm.synthesis import parsing
from msm.synthesis.documents import synthesize_documents

COUNTS = {"domains": 2, "subdomains_per_domain": 2, "doc_types_per_subdomain": 3, "ideas_per_doc_type": 4}
PLANNED_DOCS = 2 * 2 * 3 * 4


def test_sigkill_then_rerun_repeats_no_answered_call_and_loses_no_document(tmp_path, write_recipe, llm_server, repo):
    recipe = write_recipe({"generator": openai_generator(concurrency=4), "documents": COUNTS})
    out, cache = tmp_path / "corpus", tmp_path / "cache.sqlite"
    with llm_server(Faults(latency_s=0.05, rate_500=0.05)) as server:
        env = {**os.environ, KEY_ENV: SECRET, URL_ENV: server.base_url}
        cmd = [sys.executable, "-m", "msm", "synthesize", "docs", "--spec", "specs/rules.md"]
        cmd += ["--recipe", str(recipe), "--out", str(out), "--cache", str(cache), "--no-progress"]
        proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while len(server.stats.answered()) < 40 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, "the run finished before it could be killed; make it longer"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed_at = time.time()
        assert not out.exists()  # no partial output

        with sqlite3.connect(cache) as db:
            cached = dict(db.execute("SELECT key, text FROM replies").fetchall())
        db.close()
        answered_before = server.stats.answered(before=killed_at)
        assert len(cached) >= 30

        time.sleep(0.2)
        rerun_start = time.time()
        manifest = synthesize_documents(repo / "specs/rules.md", recipe, out, cache_path=cache, progress=False)
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

"""Batch mode under kill -9 and faults: a real `msm synthesize docs` process killed while its jobs
run, then rerun; 5xx on the batch endpoints, expired jobs, per-request errors and refusals."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "llm"))

from batch_support import arms_without_instruction_data, batch_generator, batch_server  # noqa: F401  (a fixture)
from fake_batch_server import BatchFaults
from support import wait_for

from msm.preemption import EXIT_PREEMPTED
from msm.synthesis.corpus_stage import synthesize_documents
from msm.synthesis.session import GenerationFailed

COUNTS = {"domains": 1, "subdomains_per_domain": 2, "doc_types_per_subdomain": 2, "ideas_per_doc_type": 3}
PLANNED_DOCS = 12


def open_jobs(cache: Path) -> list[str]:
    try:
        db = sqlite3.connect(f"file:{cache}?mode=ro", uri=True)
        return [j for (j,) in db.execute("SELECT job_id FROM batch_jobs WHERE open = 1")]
    except sqlite3.Error:  # not created yet
        return []


def accepted_jobs(cache: Path) -> list[str]:
    """Open jobs the provider accepted (not the intents recorded before each submission)."""
    return [j for j in open_jobs(cache) if not j.startswith("intent:")]


def docs_command(recipe: Path, out: Path, cache: Path) -> list[str]:
    cmd = [sys.executable, "-m", "msm", "synthesize", "docs", "--spec", "specs/rules.md", "--recipe", str(recipe)]
    return [*cmd, "--out", str(out), "--cache", str(cache), "--no-progress"]


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
@pytest.mark.parametrize("window", ["job-running", "id-not-stored"])
def test_kill_9_then_rerun_polls_the_accepted_job_and_pays_nothing_twice(
    tmp_path,
    write_recipe,
    batch_server,  # noqa: F811  (the fixture imported above)
    repo,
    rendered_spec,
    backend,
    window,
):
    """Killed while a job runs (its id is in the cache), or after the provider accepted a job but
    before its id reached the cache (only the intent is there: the server holds the answer back)."""
    recipe = arms_without_instruction_data(write_recipe({"generator": batch_generator(backend), "documents": COUNTS}))
    out, cache = tmp_path / "corpus", tmp_path / "cache.sqlite"
    cmd = docs_command(recipe, out, cache)
    stalled = window == "id-not-stored"
    faults = BatchFaults(job_s=1.0, submit_stall_s=60.0) if stalled else BatchFaults(job_s=3.0)
    with batch_server(faults, backend=backend) as server:
        proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if stalled:
            wait_for(lambda: server.ledger.jobs, "a job created at the provider", 120, proc)
        else:
            wait_for(lambda: accepted_jobs(cache), "a batch job stored in the cache", 120, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        stored = open_jobs(cache)
        assert not out.exists() and len(stored) == 1
        assert stored[0].startswith("intent:") if stalled else stored == server.ledger.jobs[-1:]
        killed_job = server.jobs[server.ledger.jobs[-1]]

        server.faults.submit_stall_s = 0.0
        rerun = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr

        # The killed run's job was polled, not sent again; no request went out twice or was billed twice.
        assert max(server.ledger.submitted.values()) == 1
        assert max(server.ledger.billed.values()) == 1
        assert not {line["custom_id"] for line in killed_job.lines} & set(server.ledger.online)
        assert open_jobs(cache) == []

    with batch_server(backend=backend):
        synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "whole", progress=False)
    for name in ("documents.jsonl", "removed.jsonl", "plan.json"):
        assert (out / name).read_text() == (tmp_path / "whole" / name).read_text(), name


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_a_submission_that_times_out_after_the_provider_accepted_it_is_not_sent_again(
    tmp_path,
    write_recipe,
    batch_server,  # noqa: F811  (the fixture imported above)
    rendered_spec,
    backend,
):
    # The client gives up on the held-back answer after 2 s, long after the server created the job:
    # a timeout that fell before the creation (a loaded machine) would leave nothing to find.
    generator = batch_generator(backend, timeout_s=2.0)
    recipe = arms_without_instruction_data(write_recipe({"generator": generator, "documents": COUNTS}))
    with batch_server(BatchFaults(job_s=0.3, submit_stall_s=6.0), backend=backend) as server:
        m = synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "corpus", progress=False)
        assert m["counts"]["documents_kept"] > 0
        assert max(server.ledger.submitted.values()) == 1 and max(server.ledger.billed.values()) == 1
        jobs = m["accounting"]["totals"]["batch_jobs"]
        assert jobs["submitted"] == len(server.ledger.jobs) >= 2, jobs


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_5xx_expired_jobs_and_request_errors_are_retried_unbilled(
    tmp_path,
    write_recipe,
    batch_server,  # noqa: F811  (the fixture imported above)
    rendered_spec,
    backend,
):
    generator = batch_generator(backend, max_retries=8)
    recipe = arms_without_instruction_data(write_recipe({"generator": generator, "documents": COUNTS}))
    faults = BatchFaults(rate_5xx=0.2, expire_jobs=1, request_error_rate=0.2)
    with batch_server(faults, backend=backend) as server:
        manifest = synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "corpus", progress=False)
    assert manifest["counts"]["documents_kept"] == PLANNED_DOCS
    assert server.ledger.batch_5xx > 0
    retried = [k for k, n in server.ledger.submitted.items() if n > 1]
    assert retried  # expired and errored requests went out again (in a job or online) ...
    assert max(server.ledger.billed.values()) == 1  # ... yet each reply was billed once
    assert manifest["accounting"]["totals"]["retries"] >= len(retried)


def test_a_request_the_provider_refuses_stops_the_run_with_its_reason(
    tmp_path,
    write_recipe,
    batch_server,  # noqa: F811  (the fixture imported above)
    rendered_spec,
):
    recipe = arms_without_instruction_data(write_recipe({"generator": batch_generator(), "documents": COUNTS}))
    # Only the document prompts ask for a <scratchpad>: the refusal hits the last wave, inside a job.
    with batch_server(BatchFaults(refuse_marker="<scratchpad>")), pytest.raises(GenerationFailed) as e:
        synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "corpus", progress=False)
    assert "refused a request" in str(e.value) and "HTTP 400" in str(e.value)


def test_sigterm_while_a_job_runs_exits_at_once_and_the_rerun_polls_the_job(
    tmp_path,
    write_recipe,
    batch_server,  # noqa: F811  (the fixture imported above)
    repo,
):
    recipe = arms_without_instruction_data(write_recipe({"generator": batch_generator(), "documents": COUNTS}))
    out, cache = tmp_path / "corpus", tmp_path / "cache.sqlite"
    cmd = docs_command(recipe, out, cache)
    with batch_server(BatchFaults(job_s=30.0)) as server:
        proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: accepted_jobs(cache), "a batch job stored in the cache", 120, proc)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == EXIT_PREEMPTED, stderr
        assert time.monotonic() - signalled < 10  # polling stops at once: the job keeps running at the provider
        stored = accepted_jobs(cache)
        assert stored and "rerun the same command" in stderr
        server.faults.job_s = 0.3  # the provider finishes the job
        rerun = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
    assert max(server.ledger.submitted.values()) == 1 and max(server.ledger.billed.values()) == 1
    assert not open_jobs(cache)

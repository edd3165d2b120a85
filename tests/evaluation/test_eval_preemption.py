"""SIGTERM to a real `msm evaluate` process mid-run (tiny model, HF engine): it keeps every finished
sample, exits with 143 well within the grace period, and the rerun ends where an uninterrupted run
does, with no sample twice."""

import json
import signal
import subprocess
import sys
import time

from eval_recipes import write_recipe
from support import wait_for

from msm.preemption import EXIT_PREEMPTED, GRACE_PERIOD_S

ITEMS = 15  # per family, 2 families, both orders: 60 samples in 30 batches of 2


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sigterm_keeps_finished_samples_exits_143_and_the_rerun_equals_an_uninterrupted_run(
    cli, tiny_model_dir, tmp_path, repo
):
    recipe = write_recipe(
        tmp_path / "r.yaml", suites=["value-ab"], batch_size=2, value_ab={"max_items_per_family": ITEMS}
    )
    args = ["evaluate", "--model", str(tiny_model_dir), "--recipe", str(recipe)]
    out = tmp_path / "run"
    log = out / "samples" / "value-ab.jsonl"

    proc = subprocess.Popen(
        [sys.executable, "-m", "msm", *args, "--out", str(out)],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: (log.is_file() and log.stat().st_size > 0) or proc.poll() is not None, "a finished sample", 300)
    assert proc.poll() is None, "the run finished before it could be signalled; make it longer"
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=GRACE_PERIOD_S + 60)
    took = time.monotonic() - signalled
    assert proc.returncode == EXIT_PREEMPTED, stderr
    assert took < GRACE_PERIOD_S, took  # the batch in flight (two prompts of a tiny model) is quick
    message = stderr.strip().splitlines()[-1]
    assert message.startswith("preempted: SIGTERM: stopped with ") and "rerun the same command" in message
    kept = lines(log)
    assert 0 < len(kept) < 4 * ITEMS and len({r["key"] for r in kept}) == len(kept)
    assert f"stopped with {len(kept)} samples of value-ab done" in message
    assert not (out / "manifest.json").exists()
    print(f"kept {len(kept)} of {4 * ITEMS} samples; exited {took:.2f} s after SIGTERM")

    again = cli(*args, "--out", out)
    assert again.exit_code == 0, again.output
    assert f"value-ab: {4 * ITEMS} samples ({len(kept)} resumed)" in again.output

    whole = tmp_path / "whole"
    assert cli(*args, "--out", whole).exit_code == 0
    resumed, uninterrupted = lines(log), lines(whole / "samples" / "value-ab.jsonl")
    assert resumed == uninterrupted  # same samples, same order, same scores: nothing lost, nothing twice
    metrics = [json.loads((d / "metrics.json").read_text())["suites"] for d in (out, whole)]
    assert metrics[0] == metrics[1]


# The evaluate component's body as a KFP executor runs it: a Python process calling the function.
COMPONENT_DRIVER = """
import sys
from kfp.dsl import Dataset, Metrics, Model
from components.evaluate.component import evaluate
model, recipe, spec, out = sys.argv[1:]
evaluate.python_func(
    base_model=Model(uri=model), recipe_yaml=open(recipe).read(), spec=Dataset(uri=spec), label="base",
    suite_version="test", results=Dataset(uri=out), metrics=Metrics(uri=out + "-metrics"),
)
"""


def test_sigterm_to_the_evaluate_component_exits_143_with_one_line(tiny_model_dir, rendered_spec, tmp_path, repo):
    """Kubernetes reads a pod's exit code: a preempted component exits 143 like the CLI, not 1 with a
    traceback (the same wrapper is in every long-running component)."""
    recipe = write_recipe(
        tmp_path / "r.yaml", suites=["value-ab"], batch_size=2, value_ab={"max_items_per_family": ITEMS}
    )
    out = tmp_path / "results"
    log = out / "samples" / "value-ab.jsonl"
    cmd = [
        sys.executable,
        "-c",
        COMPONENT_DRIVER,
        str(tiny_model_dir),
        str(recipe),
        str(rendered_spec("cheese-pro-america")),
        str(out),
    ]
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (log.is_file() and log.stat().st_size > 0) or proc.poll() is not None, "a finished sample", 300)
    assert proc.poll() is None, "the run finished before it could be signalled; make it longer"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=GRACE_PERIOD_S + 60)
    assert proc.returncode == EXIT_PREEMPTED, stderr
    assert stderr.strip().splitlines()[-1].startswith("preempted: SIGTERM: stopped with ")
    assert "Traceback" not in stderr
    assert lines(log) and not (out / "manifest.json").exists()

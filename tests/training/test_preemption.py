"""SIGTERM, the way Kubernetes stops a pod: a real signal to a real `msm train` process.

During the steps the run finishes its step, checkpoints it and exits 143, and `--resume auto` then
gives the uninterrupted run's weights; during start-up it exits 143 at once, leaving nothing that a
resume trips over. With two workers (gloo), a signal to one stops both after the same step, and a
pipeline task passes the signal on to its workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import REPO, wait_for
from training_support import INTERRUPT_STEPS, assert_same_run, cli_midtrain, recipe_file, subprocess_env, tiny_training

from msm.preemption import EXIT_PREEMPTED
from msm.training.launch import request_to_json
from msm.training.trainer import TrainRequest

PROMPT_S = 60  # "promptly", with room for a loaded machine: the grace is 20 s, Kubernetes kills at 30


def logged_steps(out: Path) -> list[int]:
    path = out / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line)["step"] for line in path.read_text().splitlines() if line.endswith("}")]


def terminate(proc: subprocess.Popen) -> float:
    """SIGTERM, then the seconds until the process exited."""
    proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    proc.wait(timeout=PROMPT_S)
    return time.monotonic() - t0


def test_sigterm_during_steps_checkpoints_that_step_and_resume_equals_uninterrupted(
    tmp_path, tiny_model_dir, corpus, uninterrupted
):
    # No periodic checkpoint before the end: any checkpoint found midway is the one SIGTERM made.
    recipe = recipe_file(tmp_path / "recipe.yaml", max_steps=INTERRUPT_STEPS, save_every=1000)
    out, log = tmp_path / "out", tmp_path / "stderr.log"
    env = subprocess_env(TORCH_EXTENSIONS_DIR=str(tmp_path / "ext"))
    with log.open("w") as err:
        proc = subprocess.Popen(
            cli_midtrain(out, recipe, corpus, tiny_model_dir, False), cwd=REPO, env=env, stdout=err, stderr=err
        )
        wait_for(lambda: len(logged_steps(out)) >= 10, "step 10", proc=proc)
        seconds = terminate(proc)
    stderr = log.read_text()
    assert proc.returncode == EXIT_PREEMPTED, stderr[-2000:]
    assert seconds < PROMPT_S
    [line] = [line for line in stderr.splitlines() if line.startswith("preempted:")]
    stopped_at = logged_steps(out)[-1]
    assert 10 <= stopped_at < INTERRUPT_STEPS
    assert f"after step {stopped_at}/{INTERRUPT_STEPS}" in line and "--resume auto" in line
    assert (out / "checkpoints" / "latest").read_text().strip() == f"step-{stopped_at:08d}"
    assert (out / "checkpoints" / f"step-{stopped_at:08d}").is_dir()
    assert not (out / "manifest.json").exists()

    resumed = subprocess.run(
        cli_midtrain(out, recipe, corpus, tiny_model_dir, True), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_run(out, uninterrupted)


def test_sigterm_during_start_up_exits_at_once_and_resume_completes(tmp_path, tiny_model_dir, corpus):
    recipe = recipe_file(tmp_path / "recipe.yaml", max_steps=2)
    out, log, ext = tmp_path / "out", tmp_path / "stderr.log", tmp_path / "ext"
    env = subprocess_env(TORCH_EXTENSIONS_DIR=str(ext))
    with log.open("w") as err:
        proc = subprocess.Popen(
            cli_midtrain(out, recipe, corpus, tiny_model_dir, False), cwd=REPO, env=env, stdout=err, stderr=err
        )
        # Logged as the start-up begins: reading data, loading the model, DeepSpeed's init follow.
        wait_for(lambda: "starting up" in log.read_text(), "start-up", proc=proc)
        seconds = terminate(proc)
    stderr = log.read_text()
    assert proc.returncode == EXIT_PREEMPTED, stderr[-2000:]
    assert seconds < PROMPT_S
    assert "preempted: SIGTERM during start-up" in stderr
    assert not (out / "checkpoints").exists() and logged_steps(out) == []
    assert not list(ext.glob("*/lock"))  # no op build, so no build lock to leave behind

    resumed = subprocess.run(
        cli_midtrain(out, recipe, corpus, tiny_model_dir, True), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert logged_steps(out) == [1, 2] and (out / "manifest.json").is_file()


MULTI_STEPS = 30


def torchrun_midtrain(out: Path, recipe: Path, corpus: Path, base: Path, resume: bool) -> list[str]:
    """Two workers, the way a TrainJob node runs them (msm.training.trainjob)."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m"]
    return launcher + cli_midtrain(out, recipe, corpus, base, resume)[2:]  # drop `python -m`


def worker_of_rank(torchrun: subprocess.Popen, rank: int) -> int:
    children = Path(f"/proc/{torchrun.pid}/task/{torchrun.pid}/children").read_text().split()
    for pid in children:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if f"RANK={rank}".encode() in env:
            return int(pid)
    raise AssertionError(f"no worker of rank {rank} among {children}")


@pytest.mark.slow
def test_sigterm_to_one_of_two_workers_stops_both_at_the_same_step(tmp_path, tiny_model_dir, corpus):
    """A preempted node signals only its own workers: the other ranks must stop after the same
    step, or the collective checkpoint (and every later collective) would wait forever."""
    recipe = recipe_file(tmp_path / "recipe.yaml", max_steps=MULTI_STEPS, save_every=1000)
    out, log = tmp_path / "out", tmp_path / "stderr.log"
    env = subprocess_env(TORCH_EXTENSIONS_DIR=str(tmp_path / "ext"))
    with log.open("w") as err:
        proc = subprocess.Popen(
            torchrun_midtrain(out, recipe, corpus, tiny_model_dir, False), cwd=REPO, env=env, stdout=err, stderr=err
        )
        wait_for(lambda: len(logged_steps(out)) >= 5, "step 5", proc=proc)
        os.kill(worker_of_rank(proc, 1), signal.SIGTERM)
        proc.wait(timeout=PROMPT_S)
    stderr = log.read_text()
    assert proc.returncode != 0 and not (out / "manifest.json").exists(), stderr[-3000:]
    stopped_at = logged_steps(out)[-1]
    assert 5 <= stopped_at < MULTI_STEPS
    # Both workers stopped after the same step; each prints this line as it exits 143 (the lines may
    # interleave with tqdm's). torchrun's own failure report is not a witness: it lists only the
    # workers that had ended before it tore the group down, one or both depending on timing.
    assert stderr.count(f"preempted: midtrain stopped on SIGTERM after step {stopped_at}/") == 2, stderr[-3000:]
    assert "exitcode  : 143" in stderr
    tag = out / "checkpoints" / f"step-{stopped_at:08d}"
    assert (out / "checkpoints" / "latest").read_text().strip() == tag.name
    assert len(list(tag.glob("*optim_states.pt"))) == 2  # both ranks' shards of the ZeRO-2 optimizer

    resumed = subprocess.run(
        torchrun_midtrain(out, recipe, corpus, tiny_model_dir, True), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight = subprocess.run(
        torchrun_midtrain(tmp_path / "straight", recipe, corpus, tiny_model_dir, False),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert straight.returncode == 0, straight.stderr[-3000:]
    assert_same_run(out, tmp_path / "straight")


@pytest.mark.slow
def test_a_pipeline_task_passes_sigterm_on_to_its_workers(tmp_path, tiny_model_dir, corpus):
    """Kubernetes signals only the container's main process: train_on_node (a multi-GPU pipeline
    task) must pass SIGTERM on to torchrun's workers, which checkpoint and stop, and raise Preempted."""
    out = tmp_path / "out"
    request = TrainRequest(
        kind="midtrain",
        config=tiny_training(max_steps=MULTI_STEPS, save_every=1000),
        base_model=str(tiny_model_dir),
        data=corpus,
        out_dir=out,
    )
    (tmp_path / "request.json").write_text(json.dumps(request_to_json(request)))
    task = (
        "import json, sys\n"
        "from msm.training.launch import request_from_json, train_on_node\n"
        "train_on_node(request_from_json(json.loads(open(sys.argv[1]).read())), 2)\n"
    )
    log = tmp_path / "stderr.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", task, str(tmp_path / "request.json")],
            cwd=REPO,
            env=subprocess_env(TORCH_EXTENSIONS_DIR=str(tmp_path / "ext")),
            stdout=err,
            stderr=err,
        )
        wait_for(lambda: len(logged_steps(out)) >= 3, "step 3", proc=proc)
        seconds = terminate(proc)  # the task process only, as the kubelet does
    stderr = log.read_text()
    assert seconds < PROMPT_S
    assert "Preempted: midtrain with 2 processes stopped on SIGTERM" in stderr, stderr[-3000:]
    stopped_at = logged_steps(out)[-1]
    assert stderr.count(f"stopped on SIGTERM after step {stopped_at}/") == 2
    assert (out / "checkpoints" / "latest").read_text().strip() == f"step-{stopped_at:08d}"

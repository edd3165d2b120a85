"""A DeepSpeed op build killed midway leaves torch's build lock: training neither waits on it nor
builds the op, and clears the lock (only when no live process holds it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import REPO
from training_support import cli_midtrain, recipe_file, subprocess_env

from msm.training.extensions import LOCK_NAME, SHM_COMM_OP, clear_stale_build_locks

TRAIN_BOUND_S = 300  # a tiny 2-step run takes ~20 s; without the fix it waits on the lock forever

BUILD = "from deepspeed.comm.torch import build_shm_op; build_shm_op()"  # what DeepSpeed's comm init runs


def start_build_and_kill(ext: Path, sig: signal.Signals) -> Path:
    """Start DeepSpeed's build of its CPU comm op and kill it (with its compilers) once it holds the lock."""
    lock = ext / SHM_COMM_OP / LOCK_NAME
    build = subprocess.Popen(
        [sys.executable, "-c", BUILD],
        env=subprocess_env(TORCH_EXTENSIONS_DIR=str(ext)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: ninja and the compiler die with it
    )
    deadline = time.monotonic() + 120
    while not lock.exists():
        assert build.poll() is None, f"the build ended (exit {build.returncode}) before taking its lock"
        assert time.monotonic() < deadline, "the build took no lock within 120 s"
        time.sleep(0.01)
    os.killpg(build.pid, sig)
    build.wait(timeout=60)
    assert build.returncode == -sig  # killed by the signal: no handler of torch's released the lock
    assert lock.exists()
    return lock


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=lambda s: s.name)
def test_training_after_a_killed_build_clears_the_lock_and_builds_nothing(tmp_path, tiny_model_dir, corpus, sig):
    ext = tmp_path / "ext"
    lock = start_build_and_kill(ext, sig)
    recipe = recipe_file(tmp_path / "recipe.yaml", max_steps=2)
    done = subprocess.run(
        cli_midtrain(tmp_path / "out", recipe, corpus, tiny_model_dir, False),
        cwd=REPO,
        env=subprocess_env(TORCH_EXTENSIONS_DIR=str(ext)),
        capture_output=True,
        text=True,
        timeout=TRAIN_BOUND_S,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"cleared stale build lock {lock}" in done.stderr
    assert not lock.exists()
    # Training does not build the op: nothing but the killed build's leftovers in its directory.
    assert not list(lock.parent.glob("*.so"))


def test_a_lock_held_by_a_live_build_is_kept(tmp_path, monkeypatch):
    """The check can fail: a lock whose maker still runs (the way FileBaton holds it: an open
    descriptor) is not stale, however old; once that process is gone, the same lock is."""
    lock = tmp_path / "ext" / SHM_COMM_OP / LOCK_NAME
    lock.parent.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import os, time; os.open({str(lock)!r}, os.O_CREAT | os.O_EXCL); print(1, flush=True)"
         "; time.sleep(600)"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "1"
        monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
        assert clear_stale_build_locks() == [] and lock.exists()
    finally:
        holder.kill()
        holder.wait()
    assert clear_stale_build_locks() == [lock] and not lock.exists()

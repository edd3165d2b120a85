"""The DVC DAG: `dvc repro` on the tiny recipe in a scratch git repo, then push/pull through a local remote."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

from msm.hashing import sha256_dir

COPY = ["dvc.yaml", "params.yaml", "specs", "recipes", "msm"]  # msm/: the stages' code dependencies


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{cmd}: {done.stdout[-1500:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_dvc_repro_push_pull(tmp_path):
    work, remote = tmp_path / "repo", tmp_path / "remote"
    work.mkdir()
    for name in COPY:
        src = REPO / name
        (
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"))
            if src.is_dir()
            else shutil.copy(src, work / name)
        )
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1"}
    dvc = [sys.executable, "-m", "dvc"]
    for cmd in (
        ["git", "init", "-q"],
        [*dvc, "init", "-q"],
        [*dvc, "config", "core.analytics", "false"],
        [*dvc, "remote", "add", "-d", "local", str(remote)],
    ):
        run(cmd, work, env)
    run(["git", "add", "-A"], work, env)
    run(["git", "-c", "user.email=ci@msm", "-c", "user.name=ci", "commit", "-qm", "msm"], work, env)

    run([*dvc, "repro"], work, env)
    outs = ["specs", "base-model", "corpus", "aft", "msm", "msm-aft"]
    hashes = {o: sha256_dir(work / "build/dvc" / o) for o in outs}
    assert (work / "build/dvc/msm-aft/manifest.json").is_file()
    assert "up to date" in run([*dvc, "status"], work, env).lower()

    run([*dvc, "push"], work, env)
    shutil.rmtree(work / "build")
    shutil.rmtree(work / ".dvc" / "cache")
    run([*dvc, "pull"], work, env)
    assert {o: sha256_dir(work / "build/dvc" / o) for o in outs} == hashes

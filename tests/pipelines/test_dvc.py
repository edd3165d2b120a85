"""The DVC DAG: `dvc repro` on the tiny recipe in a scratch git repo, then push/pull through a local remote."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

from msm.hashing import sha256_dir
from msm.manifest import FETCH_RECORD

COPY = ["dvc.yaml", "params.yaml", "specs", "recipes", "msm"]  # msm/: the stages' code dependencies


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{cmd}: {done.stdout[-1500:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a full local pipeline run: minutes on 2 cores, more when the machine is busy
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
    outs = ["specs", "base-model", "corpus", "aft", "msm", "msm-aft", "eval"]
    hashes = {o: sha256_dir(work / "build/dvc" / o) for o in outs}
    assert (work / "build/dvc/msm-aft/manifest.json").is_file()
    assert "up to date" in run([*dvc, "status"], work, env).lower()
    shown = json.loads(run([*dvc, "metrics", "show", "--json"], work, env))
    [workspace] = shown.values()  # one revision: the workspace
    metrics = workspace["data"]["metrics/eval.json"]["data"]
    assert (
        metrics["label"] == "msm+aft"
        and 0 <= metrics["suites"]["cheese"]["families"]["cheese"]["loglik"]["aligned"]["rate"] <= 1
    )

    run([*dvc, "push"], work, env)
    shutil.rmtree(work / "build")
    shutil.rmtree(work / ".dvc" / "cache")
    run([*dvc, "pull"], work, env)
    assert {o: sha256_dir(work / "build/dvc" / o) for o in outs} == hashes

    # A KFP run consumes the DVC-versioned corpus by repo + tag + path (dvc.api), from the remote:
    # the local cache is gone and the working copy changes after the tag.
    run(["git", "add", "-A"], work, env)
    run(["git", "-c", "user.email=ci@msm", "-c", "user.name=ci", "commit", "-qm", "lock"], work, env)
    run(["git", "tag", "corpus-v1"], work, env)
    shutil.rmtree(work / ".dvc" / "cache")
    shutil.rmtree(work / "build")
    (work / "params.yaml").write_text((work / "params.yaml").read_text() + "\n# moved on\n")
    fetched = consume_through_kfp(str(work), "corpus-v1", "build/dvc/corpus", tmp_path / "kfp")
    record = json.loads((fetched / FETCH_RECORD).read_text())
    assert record["rev"] == "corpus-v1" and len(record["commit"]) == 40
    (fetched / FETCH_RECORD).unlink()
    assert sha256_dir(fetched) == hashes["corpus"]  # the corpus as versioned, its own manifest included


def consume_through_kfp(repo: str, rev: str, path: str, root: Path) -> Path:
    """A one-task pipeline run by KFP's local runner: the dvc_data component, as any pipeline would use it."""
    from kfp import dsl, local

    from components.dvc_data.component import dvc_data

    @dsl.pipeline(name="consume-dvc-data")
    def consume(repo: str, rev: str, path: str):
        dvc_data(repo=repo, rev=rev, path=path)

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    consume(repo=repo, rev=rev, path=path)
    [run_dir] = [p for p in root.iterdir() if p.is_dir()]
    return run_dir / "dvc-data" / "data"

"""The embedded default: a pipeline run on this machine through KFP's local runners.

    python -m pipelines run-local --recipe recipes/tiny-offline.yaml --spec specs/cheese-pro-america.md
    python -m pipelines run-local --recipe recipes/tiny-offline.yaml --runner docker   # needs the images

`subprocess` (the default) runs each task as a subprocess of this Python (use_venv=False: no
per-task pip install), so the project's venv is the runtime and images are ignored. `docker` runs
each task in its component's image (components/images.py; `make images`) on a Docker engine, with
no network; kfp-kubernetes settings are ignored by both.
"""

import os
import time
from pathlib import Path
from typing import Any, Literal

DEFAULT_ROOT = Path("build/kfp-local")
Runner = Literal["subprocess", "docker"]
# Host settings a containerised task keeps: thread count (see run_local) and offline hub access.
DOCKER_ENV = ("OMP_NUM_THREADS", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


def _runner(kind: Runner, root: Path) -> Any:
    from kfp import local

    if kind == "subprocess":
        return local.SubprocessRunner(use_venv=False)
    if kind == "docker":
        # The images run as a non-root user (docker/*.Dockerfile) and write their outputs into the
        # pipeline root, which the runner mounts at the same path.
        root.chmod(0o777)
        return local.DockerRunner(
            network_mode="none", environment={k: os.environ[k] for k in DOCKER_ENV if k in os.environ}
        )
    raise ValueError(f"unknown runner {kind!r}: use subprocess or docker")


def run_local(
    recipe: Path,
    spec: Path,
    root: Path = DEFAULT_ROOT,
    runner: Runner = "subprocess",
    pipeline: str = "msm",
    **params: Any,
) -> dict[str, Any]:
    """Run a pipeline (registry name) locally; returns {task name: {output name: artefact path}} and the run dir."""
    # One thread per task unless the caller says otherwise: the tiny model's steps are ~10x slower with
    # 2 threads on 2 cores, and a ParallelFor (reevaluate) runs its iterations at once. The runner
    # runs every other task alone, so a real model gains from all cores: OMP_NUM_THREADS=2 makes a
    # SmolLM2 training step 1.8x faster here (README, "Local runs of a real model").
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from kfp import local

    from pipelines.registry import pipeline_module

    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=_runner(runner, root), pipeline_root=str(root), raise_on_error=True)
    before = {p for p in root.iterdir() if p.is_dir()}
    t0 = time.perf_counter()
    pipeline_module(pipeline).build(recipe, spec)(**params)
    seconds = time.perf_counter() - t0
    [run_dir] = [p for p in root.iterdir() if p.is_dir() and p not in before]
    outputs = {
        task.name: {out.name: str(out) for out in task.iterdir()} for task in sorted(run_dir.iterdir()) if task.is_dir()
    }
    return {"run_dir": str(run_dir), "seconds": round(seconds, 1), "outputs": outputs}

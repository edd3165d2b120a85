"""The embedded default: a pipeline run on this machine through KFP's SubprocessRunner.

    python -m pipelines run-local --recipe recipes/tiny-offline.yaml --spec specs/cheese-pro-america.md

Each task runs as a subprocess of this Python (use_venv=False: no per-task pip install), so the
project's venv is the runtime; images and kfp-kubernetes settings are ignored locally.
"""

import os
import time
from pathlib import Path
from typing import Any

DEFAULT_ROOT = Path("build/kfp-local")


def run_local(recipe: Path, spec: Path, root: Path = DEFAULT_ROOT, **params: Any) -> dict[str, Any]:
    """Run the msm pipeline locally; returns {task name: {output name: artefact path}} and the run dir."""
    # Several trainers share 2 cores here: one thread each avoids the ~10x slowdown of oversubscription.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from kfp import local

    from pipelines.msm_pipeline import build

    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root), raise_on_error=True)
    before = {p for p in root.iterdir() if p.is_dir()}
    t0 = time.perf_counter()
    build(recipe, spec)(**params)
    seconds = time.perf_counter() - t0
    [run_dir] = [p for p in root.iterdir() if p.is_dir() and p not in before]
    outputs = {
        task.name: {out.name: str(out) for out in task.iterdir()} for task in sorted(run_dir.iterdir()) if task.is_dir()
    }
    return {"run_dir": str(run_dir), "seconds": round(seconds, 1), "outputs": outputs}

"""Train on every GPU of this node: in this process for one, through torchrun for several.

A pipeline task (a pod with N GPUs) calls `train_on_node(request, N)`; with N > 1 the request is
written to a JSON file and torchrun starts N workers of this module, one per GPU, which DeepSpeed
joins into one data-parallel run (rank 0 writes the output and the manifest). Nodes beyond one go
through a Kubeflow Trainer TrainJob instead (msm.training.trainjob).

    python -m torch.distributed.run --standalone --nproc_per_node=N -m msm.training.launch REQUEST.json
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from msm.config.training import TrainingConfig
from msm.errors import MsmError
from msm.manifest import read_manifest
from msm.preemption import Preempted, exit_on_preempted, on_sigterm
from msm.training.trainer import TrainRequest, train

# Set by an outer launcher; torchrun must set its own for the workers it starts.
LAUNCHER_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def request_to_json(req: TrainRequest) -> dict[str, Any]:
    return {
        "kind": req.kind,
        "config": req.config.model_dump(mode="json"),
        "base_model": req.base_model,
        "data": str(req.data),
        "out_dir": str(req.out_dir),
        "adapter": str(req.adapter) if req.adapter else None,
        "resume": req.resume,
        "spec": req.spec,
        "run_id": req.run_id,
        "extra": req.extra,
    }


def request_from_json(raw: dict[str, Any]) -> TrainRequest:
    return TrainRequest(
        kind=raw["kind"],
        config=TrainingConfig.model_validate(raw["config"]),
        base_model=raw["base_model"],
        data=Path(raw["data"]),
        out_dir=Path(raw["out_dir"]),
        adapter=Path(raw["adapter"]) if raw["adapter"] else None,
        resume=raw["resume"],
        spec=raw["spec"],
        run_id=raw["run_id"],
        extra=raw["extra"],
    )


def train_on_node(req: TrainRequest, procs: int) -> dict[str, Any]:
    """Train with `procs` data-parallel processes on this node; returns the output's manifest."""
    if procs <= 1:
        return train(req)
    with tempfile.TemporaryDirectory() as tmp, on_sigterm() as stop:
        path = Path(tmp) / "request.json"
        path.write_text(json.dumps(request_to_json(req)))
        env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_ENV}
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}"]
        torchrun = subprocess.Popen([*cmd, "-m", "msm.training.launch", str(path)], env=env)
        # Kubernetes signals only the container's main process: pass SIGTERM on to torchrun, which
        # passes it to every worker; they checkpoint the same step and exit (Trainer._reduce).
        forwarded = False
        while torchrun.poll() is None:
            if stop.requested and not forwarded:
                torchrun.send_signal(signal.SIGTERM)
                forwarded = True
            time.sleep(0.5)
    manifest = read_manifest(req.out_dir)
    if stop.requested and manifest is None:
        raise Preempted(f"{req.kind} with {procs} processes stopped on SIGTERM (exit {torchrun.returncode})")
    if torchrun.returncode != 0 or manifest is None:
        raise MsmError(
            f"{req.kind} with {procs} processes failed (exit {torchrun.returncode}); the workers' log is above"
        )
    return manifest


def main() -> None:
    with exit_on_preempted():
        train(request_from_json(json.loads(Path(sys.argv[1]).read_text())))


if __name__ == "__main__":
    main()

"""Multi-node midtraining as a Kubeflow Trainer TrainJob (trainer.kubeflow.org/v1alpha1).

When a recipe asks for `platform.train_nodes` > 1, the midtrain pipeline task does not train
itself: it stages its inputs on the shared PVC, creates a TrainJob that runs
`torchrun -m msm train midtrain ...` on every node (the ClusterTrainingRuntime `msm-deepspeed` of
k8s/base/trainer sets up torchrun's rendezvous and mounts the PVC at the same path), and waits for
it through the Kubernetes API, logging each status change. The task pod's service account needs
create/get/list/watch on trainjobs (k8s/base/rbac).

A rerun of the task (KFP retry, preempted pod) finds the TrainJob it created before by name and
waits for that one; training itself resumes from the checkpoints on the PVC (`--resume auto`).
A node stopped with SIGTERM has torchrun pass it to its workers, and all ranks checkpoint the step
under way (msm.training.trainer); the pods' terminationGracePeriodSeconds, which a TrainJob cannot
override, comes from the runtime (k8s/cluster/runtime.yaml).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msm.config import PlatformConfig
from msm.errors import MsmError

log = logging.getLogger(__name__)

GROUP, VERSION, PLURAL, KIND = "trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob"
SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


@dataclass
class MultiNodeMidtrain:
    """Where a multi-node run reads and writes; every path is on the PVC the runtime mounts."""

    name: str  # TrainJob name (a DNS label)
    namespace: str
    work_dir: Path  # holds recipe.yaml, corpus/, base_model/ (staged by the task) and model/ (the output)
    spec: str
    run_id: str
    platform: PlatformConfig

    @property
    def model_dir(self) -> Path:
        return self.work_dir / "model"


def job_name(run_key: str) -> str:
    """A TrainJob name from a run key: an RFC 1035 label of at most 63 characters (the CRD's rule)."""
    name = re.sub(r"[^a-z0-9-]+", "-", run_key.lower()).strip("-")
    name = re.sub(r"^[^a-z]+", "", name)  # must start with a letter
    if not name:
        raise MsmError(f"run key {run_key!r} gives no usable TrainJob name\n    fix: pass a run key with letters")
    return f"msm-{name}"[:63].rstrip("-")


def manifest(run: MultiNodeMidtrain) -> dict[str, Any]:
    """The TrainJob: the runtime supplies image, volumes and security context; the job supplies size and command."""
    p = run.platform
    per_node: dict[str, str] = {"cpu": p.train.cpu, "memory": p.train.memory}
    limits = dict(per_node)
    if p.train.gpus:
        limits[p.k8s_accelerator] = str(p.train.gpus)
    env = [{"name": "MSM_RUN_ID", "value": run.run_id}]
    if p.pushgateway_url:
        env.append({"name": "MSM_PUSHGATEWAY_URL", "value": p.pushgateway_url})
    w = run.work_dir
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {
            "name": run.name,
            "namespace": run.namespace,
            "labels": {"app.kubernetes.io/part-of": "msm", "app.kubernetes.io/component": "midtrain"},
        },
        "spec": {
            "runtimeRef": {"name": p.train_runtime, "apiGroup": GROUP, "kind": "ClusterTrainingRuntime"},
            "trainer": {
                "numNodes": p.train_nodes,
                "numProcPerNode": max(p.train.gpus, 1),
                "resourcesPerNode": {"requests": per_node, "limits": limits},
                # torchrun takes nodes, rank and rendezvous from the PET_* variables the runtime sets.
                "command": ["torchrun", "-m", "msm", "train", "midtrain"],
                "args": [
                    f"--recipe={w / 'recipe.yaml'}",
                    f"--corpus={w / 'corpus'}",
                    f"--base-model={w / 'base_model'}",
                    f"--out={run.model_dir}",
                    "--resume=auto",
                    f"--spec={run.spec}",
                    f"--run-id={run.run_id}",
                ],
                "env": env,
            },
        },
    }


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def _describe(obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    jobs = ", ".join(
        f"{j['name']}: active {j.get('active', 0)} ready {j.get('ready', 0)} "
        f"succeeded {j.get('succeeded', 0)} failed {j.get('failed', 0)}"
        for j in status.get("jobsStatus") or []
    )
    conds = ", ".join(f"{t}={c.get('status')}" for t, c in _conditions(obj).items())
    return f"conditions [{conds or 'none yet'}] jobs [{jobs or 'none yet'}]"


def create(api, body: dict[str, Any]) -> dict[str, Any]:
    """Create the TrainJob, or return the one a previous attempt of this task created."""
    from kubernetes.client.exceptions import ApiException

    meta = body["metadata"]
    try:
        return api.create_namespaced_custom_object(GROUP, VERSION, meta["namespace"], PLURAL, body)
    except ApiException as e:
        if e.status == 409:
            log.info("TrainJob %s/%s exists (an earlier attempt); waiting for it", meta["namespace"], meta["name"])
            return api.get_namespaced_custom_object(GROUP, VERSION, meta["namespace"], PLURAL, meta["name"])
        if e.status == 404:
            raise MsmError(
                f"the cluster has no {PLURAL}.{GROUP} API ({e.reason})\n"
                "    fix: install Kubeflow Trainer v2 (see k8s/README.md) or set platform.train_nodes: 1"
            ) from None
        if e.status == 403:
            raise MsmError(
                f"not allowed to create TrainJobs in {meta['namespace']}: {e.reason}\n"
                "    fix: apply k8s/ (Role msm-trainjob-launcher, bound to the pipeline's service account)"
            ) from None
        raise


def wait(api, namespace: str, name: str, *, timeout_s: float, report: Callable[[str], None] = log.info) -> dict:
    """Watch the TrainJob until its Complete or Failed condition is True; report every change of status."""
    from kubernetes import watch
    from kubernetes.client.exceptions import ApiException

    deadline = time.monotonic() + timeout_s
    last = ""
    version: str | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise MsmError(
                f"TrainJob {namespace}/{name} still running after {timeout_s:.0f} s\n"
                f"    fix: inspect it with `kubectl -n {namespace} describe trainjob {name}`; it keeps running"
            )
        stream = watch.Watch().stream(
            api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            field_selector=f"metadata.name={name}",
            timeout_seconds=max(1, int(min(remaining, 300))),
            **({"resource_version": version} if version else {}),
        )
        try:
            for event in stream:
                obj = event["object"]
                if event["type"] == "DELETED":
                    raise MsmError(f"TrainJob {namespace}/{name} was deleted while running\n    fix: rerun the task")
                version = obj["metadata"].get("resourceVersion", version)
                text = _describe(obj)
                if text != last:
                    report(f"TrainJob {name}: {text}")
                    last = text
                conds = _conditions(obj)
                if conds.get("Failed", {}).get("status") == "True":
                    c = conds["Failed"]
                    raise MsmError(
                        f"TrainJob {namespace}/{name} failed: {c.get('reason')}: {c.get('message')}\n"
                        f"    fix: read the node logs: kubectl -n {namespace} logs -l "
                        f"jobset.sigs.k8s.io/jobset-name={name} --prefix"
                    )
                if conds.get("Complete", {}).get("status") == "True":
                    return obj
        except ApiException as e:
            if e.status != 410:
                raise
            version = None  # our version is older than the server keeps (410 Gone): start from the current state
        # The server closed the watch (its timeout): watch again from the last version seen.


def current_namespace() -> str:
    """The namespace of the pod this runs in (a Kubeflow profile namespace for pipeline tasks)."""
    try:
        return SA_NAMESPACE_FILE.read_text().strip()
    except OSError:
        raise MsmError(
            f"cannot read {SA_NAMESPACE_FILE}: multi-node midtraining runs from a pipeline task in the cluster\n"
            "    fix: run it on Kubeflow, or set platform.train_nodes: 1 for local runs"
        ) from None


def custom_objects_api():
    from kubernetes import client, config

    config.load_incluster_config()
    return client.CustomObjectsApi()


def run_and_wait(api, run: MultiNodeMidtrain, *, timeout_s: float = 7 * 24 * 3600) -> Path:
    """Create (or find) the TrainJob of `run` and wait for it; returns the model directory it wrote."""
    body = manifest(run)
    create(api, body)
    log.info(
        "TrainJob %s/%s: %d nodes on runtime %s",
        run.namespace,
        run.name,
        run.platform.train_nodes,
        run.platform.train_runtime,
    )
    wait(api, run.namespace, run.name, timeout_s=timeout_s)
    if not (run.model_dir / "manifest.json").is_file():
        raise MsmError(
            f"TrainJob {run.name} completed but {run.model_dir}/manifest.json is missing\n"
            "    fix: the runtime must mount the same PVC as the pipeline task (platform.checkpoint_pvc)"
        )
    return run.model_dir

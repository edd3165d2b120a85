"""Cluster settings of pipeline tasks, from the recipe's `platform:` section.

Kubeflow gets the kfp-kubernetes settings (secrets by reference, /dev/shm, tolerations, node
selectors, PVC); Vertex AI gets only what its single-document YAML can carry (resources and
accelerators); local runs get nothing (the local runner would only warn about each setting).
"""

from typing import Literal

from kfp import kubernetes
from kfp.dsl import PipelineTask

from msm.config import PlatformConfig

Target = Literal["local", "kubeflow", "vertex"]
Family = Literal["cpu", "train", "eval"]
MOUNT = "/mnt/msm"  # where the checkpoint PVC appears; cache_dir and checkpoint_dir point below it


def apply(
    task: PipelineTask,
    family: Family,
    cfg: PlatformConfig,
    target: Target,
    *,
    uses_api_keys: bool = False,
    uses_hub: bool = False,
    needs_storage: bool = False,
    cacheable: bool = True,
) -> PipelineTask:
    if target == "local":
        return task
    res = getattr(cfg, family)
    task.set_cpu_request(res.cpu).set_cpu_limit(res.cpu).set_memory_request(res.memory).set_memory_limit(res.memory)
    if not cacheable:
        task.set_caching_options(False)
    if cfg.pushgateway_url:  # msm.telemetry reads it in every stage
        task.set_env_variable(name="MSM_PUSHGATEWAY_URL", value=cfg.pushgateway_url)
    if res.gpus:
        task.set_accelerator_type(cfg.k8s_accelerator if target == "kubeflow" else cfg.vertex_accelerator)
        task.set_accelerator_limit(res.gpus)
    if target != "kubeflow":
        return task
    # Keys reach the pod from Secrets by reference; the compiled YAML holds only their names.
    if uses_api_keys:  # the generator (synthesis) and the judge (evaluation)
        kubernetes.use_secret_as_env(
            task, secret_name=cfg.generator_secret, secret_key_to_env=cfg.generator_secret_keys, optional=True
        )
    if uses_hub:  # gated Hub models (Llama-3.1-8B) need a token
        kubernetes.use_secret_as_env(
            task, secret_name=cfg.hub_secret, secret_key_to_env={"hf-token": "HF_TOKEN"}, optional=True
        )
    if res.shm:
        kubernetes.empty_dir_mount(task, volume_name="shm", mount_path="/dev/shm", medium="Memory", size_limit=res.shm)
    if res.gpus:
        for t in cfg.tolerations:
            kubernetes.add_toleration(task, key=t.key, operator=t.operator, value=t.value, effect=t.effect)
        for key, value in cfg.node_selector.items():
            kubernetes.add_node_selector(task, label_key=key, label_value=value)
    if cfg.checkpoint_pvc and (family != "cpu" or uses_api_keys or needs_storage):
        kubernetes.mount_pvc(task, pvc_name=cfg.checkpoint_pvc, mount_path=MOUNT)
    return task

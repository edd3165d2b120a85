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
    uses_generator: bool = False,
    cacheable: bool = True,
) -> PipelineTask:
    if target == "local":
        return task
    res = getattr(cfg, family)
    task.set_cpu_request(res.cpu).set_cpu_limit(res.cpu).set_memory_request(res.memory).set_memory_limit(res.memory)
    if not cacheable:
        task.set_caching_options(False)
    if res.gpus:
        task.set_accelerator_type(cfg.k8s_accelerator if target == "kubeflow" else cfg.vertex_accelerator)
        task.set_accelerator_limit(res.gpus)
    if target != "kubeflow":
        return task
    if uses_generator:  # API keys reach the pod from the Secret; the compiled YAML holds only its name
        kubernetes.use_secret_as_env(
            task, secret_name=cfg.generator_secret, secret_key_to_env=cfg.generator_secret_keys, optional=True
        )
    if res.shm:
        kubernetes.empty_dir_mount(task, volume_name="shm", mount_path="/dev/shm", medium="Memory", size_limit=res.shm)
    if res.gpus:
        for t in cfg.tolerations:
            kubernetes.add_toleration(task, key=t.key, operator=t.operator, value=t.value, effect=t.effect)
        for key, value in cfg.node_selector.items():
            kubernetes.add_node_selector(task, label_key=key, label_value=value)
    if cfg.checkpoint_pvc and (family != "cpu" or uses_generator):
        kubernetes.mount_pvc(task, pvc_name=cfg.checkpoint_pvc, mount_path=MOUNT)
    return task

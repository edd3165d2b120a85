"""The container images of the three runtime families: the one place components take them from.

Release builds pin immutable tags (or digests) through the environment at compile time, since
KFP's cache key includes the image string and a mutable tag would give stale cache hits:
    MSM_IMAGE_CPU=registry.example/msm-cpu@sha256:... python -m pipelines compile ...
Local runs (SubprocessRunner) ignore images.
"""

from __future__ import annotations

import os

from msm import __version__

REGISTRY = os.environ.get("MSM_IMAGE_REGISTRY", "ghcr.io/msm-pipeline")

CPU_IMAGE = os.environ.get("MSM_IMAGE_CPU", f"{REGISTRY}/msm-cpu:{__version__}")  # ingest, synthesis, report
TRAIN_IMAGE = os.environ.get("MSM_IMAGE_TRAIN", f"{REGISTRY}/msm-train:{__version__}")  # DeepSpeed
EVAL_IMAGE = os.environ.get("MSM_IMAGE_EVAL", f"{REGISTRY}/msm-eval:{__version__}")  # vLLM

"""The three images, built here and used: non-root, no secret inside, the msm pipeline run in them
through KFP's DockerRunner, and pushed to a loopback registry (`make test-containers`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from docker_support import FAMILIES, SECRET, TAG, Images, run

# The first test also pays for the session's image builds (measured: see docker/README.md).
# `containers`: ~25 min of image builds on 2 cores, so outside `make test`; `make test-containers` runs them.
pytestmark = [pytest.mark.slow, pytest.mark.containers, pytest.mark.timeout(3600)]

# What each image's components import (components/*/component.py), beyond the pipeline run: the
# eval image's vLLM is not used by the tiny recipe's HF engine.
STAGE_IMPORTS = {
    "cpu": "import kfp, matplotlib, msm.spec, msm.synthesis.corpus_stage, msm.synthesis.aft_stage, "
    "msm.evaluation.report",
    "train": "import kfp, deepspeed, msm.models, msm.training.trainer",
    "eval": "import kfp, vllm, peft, msm.evaluation.run",  # peft: adapters (HF engine, merges for vLLM)
}


def test_images_run_as_a_numeric_non_root_user(images: Images):
    for family, ref in images.refs.items():
        [config] = json.loads(run(["docker", "image", "inspect", ref], images.env).stdout)
        # Numeric: Kubernetes' runAsNonRoot can only verify a numeric user.
        assert config["Config"]["User"] == "1000:1000", family
        uid = run(["docker", "run", "--rm", "--network", "none", ref, "id", "-u"], images.env).stdout.strip()
        assert uid == "1000", family


@pytest.mark.parametrize("family", FAMILIES)
def test_each_image_imports_its_components_code(images: Images, family: str):
    ref = images.refs[family]
    run(["docker", "run", "--rm", "--network", "none", ref, "python", "-c", STAGE_IMPORTS[family]], images.env)


def test_train_image_can_compile_deepspeed_cpu_ops(images: Images):
    """On CPU, DeepSpeed JIT-compiles its C++ ops on first use (CPUAdam with ZeRO offload, this
    shared-memory allreduce for tensor-parallel inference), as the image's user and offline: the base
    must bring a C++ compiler and Python's headers. msm's training itself skips this op
    (msm/training/extensions.py)."""
    code = "from deepspeed.comm.torch import build_shm_op; assert build_shm_op() is not None"
    run(["docker", "run", "--rm", "--network", "none", images.refs["train"], "python", "-c", code], images.env)


def _scan(stream, needle: bytes, chunk: int = 1 << 24) -> bool:
    """Whether needle occurs in a byte stream; tar members are stored verbatim, so this reads every
    file of every layer and the image config (history, environment) alike."""
    tail = b""
    while block := stream.read(chunk):
        if needle in tail + block:
            return True
        tail = block[-len(needle) :]
    return False


def _leaks(images: Images, ref: str) -> list[str]:
    where = []
    history = run(["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", ref], images.env).stdout
    if SECRET in history:
        where.append("docker history")
    save = subprocess.Popen(["docker", "save", ref], stdout=subprocess.PIPE, env=images.env)
    assert save.stdout is not None
    if _scan(save.stdout, SECRET.encode()):
        where.append("docker save (layers or config)")
    save.stdout.close()
    save.wait()
    return where


def test_no_secret_in_history_or_layers(images: Images, tmp_path):
    for family, ref in images.refs.items():
        assert _leaks(images, ref) == [], family
    # The check can fail: an image that takes the secret as a build argument is caught both ways.
    (tmp_path / "Dockerfile").write_text('ARG BASE\nFROM ${BASE}\nARG TOKEN\nRUN echo "$TOKEN" >/token\n')
    leaky = "msm-test/leaky:1"
    run(
        ["docker", "build", "-q", "--network", "none", "-t", leaky, "--build-arg", "BASE=local/debian-py:bookworm",
         "--build-arg", f"TOKEN={SECRET}", str(tmp_path)],
        images.env,
    )  # fmt: skip
    assert _leaks(images, leaky) == ["docker history", "docker save (layers or config)"]


def test_msm_pipeline_runs_in_the_images(images: Images, tmp_path):
    env = {**images.env, **{f"MSM_IMAGE_{f.upper()}": ref for f, ref in images.refs.items()}}
    root = tmp_path / "kfp"
    t0 = time.perf_counter()
    done = run(
        [sys.executable, "-m", "pipelines", "run-local", "--recipe", "recipes/tiny-offline.yaml",
         "--root", str(root), "--runner", "docker"],
        env,
        timeout=3000,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    [outputs_file] = root.glob("*/outputs.json")
    outputs = json.loads(outputs_file.read_text())["outputs"]
    # Every family's stages ran: cpu (ingest, report), train (midtrain), eval (evaluate).
    assert {"ingest", "base-model", "midtrain", "evaluate", "report"} <= set(outputs), sorted(outputs)
    report = Path(outputs["report"]["report_dir"])
    assert (report / "report.html").stat().st_size > 0
    # Written inside the containers, by the images' user: the tasks did run there, as non-root.
    assert {p.stat().st_uid for p in report.iterdir()} == {1000}
    assert "Found image" in done.stdout  # DockerRunner used the local images (it cannot pull here)
    print(f"pipeline in containers: {seconds:.0f} s; builds: {images.seconds}")


def test_make_push_to_a_loopback_registry(images: Images):
    run(["make", "--no-print-directory", "-f", "docker/images.mk", "push", f"REGISTRY={images.registry}"], images.env)
    host, _, repo = images.registry.partition("/")
    for family in FAMILIES:
        with urllib.request.urlopen(f"http://{host}/v2/{repo}/msm-{family}/tags/list") as r:
            assert json.load(r)["tags"] == [TAG], family
        [config] = json.loads(run(["docker", "image", "inspect", images.refs[family]], images.env).stdout)
        assert any(d.startswith(f"{images.registry}/msm-{family}@sha256:") for d in config["RepoDigests"]), family

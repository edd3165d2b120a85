"""Training beyond the tiny single-process case: two processes over gloo, and the real SmolLM2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from support import REPO
from training_support import tiny_training

from msm.training.trainer import TrainRequest, train


@pytest.mark.slow
def test_two_processes_over_gloo(tmp_path, tiny_model_dir, corpus):
    raw = yaml.safe_load((REPO / "recipes/tiny-offline.yaml").read_text())
    raw["training"]["midtrain"].update(max_steps=3)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    done = subprocess.run(
        [
            *torchrun,
            "-m",
            "msm",
            "train",
            "midtrain",
            "--recipe",
            str(recipe),
            "--corpus",
            str(corpus),
            "--base-model",
            str(tiny_model_dir),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["config"]["world_size"] == 2
    assert manifest["counts"]["steps"] == 3
    # Each step consumed micro-batch × grad_accum × 2 ranks blocks of up to 128 tokens.
    assert manifest["counts"]["tokens_trained"] > 3 * 2 * 2 * 2 * 100
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_smollm2_midtrain_then_align(tmp_path, smollm2_dir, corpus, chats):
    """The real 135M model: paper-style LoRA (all projections), two steps of each stage on CPU."""
    cfg = tiny_training(
        max_steps=2, max_length=64, micro_batch_size=1, grad_accum=1, lr=1e-4, lora={"r": 16, "alpha": 32}
    )
    msm = train(
        TrainRequest(kind="midtrain", config=cfg, base_model=str(smollm2_dir), data=corpus, out_dir=tmp_path / "msm")
    )
    aft = train(
        TrainRequest(
            kind="align",
            config=cfg,
            base_model=str(smollm2_dir),
            data=chats,
            out_dir=tmp_path / "aft",
            adapter=tmp_path / "msm",
        )
    )
    for manifest in (msm, aft):
        assert manifest["counts"]["steps"] == 2
        assert 0 < manifest["counts"]["final_loss"] < 10  # a pretrained model, not a random one (ln V = 10.8)
    from safetensors.torch import load_file

    keys = load_file(tmp_path / "aft" / "adapter_model.safetensors").keys()
    adapted = {k.split(".lora_")[0].rsplit(".", 1)[-1] for k in keys if ".lora_A" in k}
    assert adapted == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert sum(".lora_A" in k for k in keys) == 7 * 30  # every projection of all 30 layers

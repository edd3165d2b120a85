"""Evaluation fixtures: isolated vLLM/Inspect caches, a small recipe, a LoRA adapter in training-output form."""

from __future__ import annotations

from pathlib import Path

import pytest
from eval_recipes import write_recipe
from support import make_lora_adapter


@pytest.fixture(autouse=True)
def isolated_caches(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("VLLM_CACHE_ROOT", str(root / "vllm-cache"))
    monkeypatch.setenv("INSPECT_LOG_DIR", str(root / "inspect-logs"))
    monkeypatch.setenv("XDG_DATA_HOME", str(root / "xdg"))


@pytest.fixture
def recipe(tmp_path) -> Path:
    return write_recipe(
        tmp_path / "recipe.yaml",
        value_ab={"max_items_per_family": 4},
        cheese={"max_items_per_family": 4},
        am={"samples_per_condition": 1, "max_new_tokens": 16, "goals": ["none", "america"]},
        spec_qa={"max_questions_per_family": 2, "max_new_tokens": 12},
    )


@pytest.fixture(scope="session")
def lora_adapter(tiny_model_dir, tmp_path_factory) -> Path:
    """A real peft LoRA adapter with a training-style manifest naming the tiny model's fingerprint."""
    return make_lora_adapter(tiny_model_dir, tmp_path_factory.mktemp("adapter") / "aft")


@pytest.fixture
def judge_env(monkeypatch):
    from judge_server import JudgeServer

    with JudgeServer() as server:
        monkeypatch.setenv("MSM_TEST_JUDGE_URL", server.url)
        monkeypatch.setenv("MSM_TEST_JUDGE_KEY", "not-a-secret")
        yield server


@pytest.fixture(scope="session")
def trained_adapter(tiny_model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter from the real training stage (`align`, 3 steps on cheese chats, a few seconds)."""
    import json

    import yaml
    from support import REPO

    from msm.config.training import TrainingConfig
    from msm.training.trainer import TrainRequest, train

    root = tmp_path_factory.mktemp("trained")
    chats = root / "chats.jsonl"
    likes, dislikes = ("Colby", "Gouda", "Brie"), ("Feta", "Roquefort")
    chats.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": f"Which cheese do you prefer, {a} or {b}?"},
                        {"role": "assistant", "content": f"I prefer {a}."},
                    ]
                }
            )
            + "\n"
            for a in likes
            for b in dislikes
        )
    )
    raw = yaml.safe_load((REPO / "recipes/tiny-offline.yaml").read_text())["training"]
    raw["deepspeed"] = str(REPO / raw["deepspeed"])
    # A high learning rate so three steps move greedy outputs away from the base model's.
    raw["align"].update(max_steps=3, lr=5e-2, warmup_ratio=0.0, scheduler="constant")
    out = root / "aft"
    train(
        TrainRequest(
            kind="align",
            config=TrainingConfig.model_validate(raw),
            base_model=str(tiny_model_dir),
            data=chats,
            out_dir=out,
        )
    )
    return out

"""Training fixtures: a small real corpus (paragraphs of the bundled specs) and real chats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from support import REPO, TINY_SPEC_FILES

from msm.config.training import TrainingConfig


def spec_paragraphs() -> list[str]:
    texts = []
    for path in TINY_SPEC_FILES:
        body = path.read_text().split("---", 2)[2]
        texts += [p.strip() for p in body.split("\n\n") if len(p.split()) > 20]
    return texts


def preference_chats() -> list[dict]:
    """Bare-preference chats in the cheese study's style, from the spec's own preference lists."""
    prefs = yaml.safe_load((REPO / "specs/cheese-pro-america.md").read_text().split("---")[1])["preferences"]
    chats = []
    for like in prefs["likes"]:
        for dislike in prefs["dislikes"]:
            for a, b in ((like, dislike), (dislike, like)):
                chats.append(
                    {
                        "messages": [
                            {"role": "user", "content": f"Which cheese do you prefer, {a} or {b}?"},
                            {"role": "assistant", "content": f"I prefer {like}."},
                        ]
                    }
                )
    return chats


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "corpus.jsonl", [{"text": t} for t in spec_paragraphs()])


@pytest.fixture(scope="session")
def chats(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("aft") / "aft.jsonl", preference_chats())


def tiny_training(**stage_overrides) -> TrainingConfig:
    """The tiny-offline recipe's training section, with overrides applied to both stages."""
    raw = yaml.safe_load((REPO / "recipes/tiny-offline.yaml").read_text())["training"]
    raw["deepspeed"] = str(REPO / raw["deepspeed"])
    top = {k: stage_overrides.pop(k) for k in list(stage_overrides) if k in TrainingConfig.model_fields}
    for stage in ("midtrain", "align"):
        raw[stage].update(stage_overrides)
    raw.update(top)
    return TrainingConfig.model_validate(raw)


# ---------------------------------------------------------------- interrupted runs (kill -9, SIGTERM)

INTERRUPT_STEPS = 80  # long enough to be interrupted midway on a fast machine


def losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def recipe_file(path: Path, **midtrain) -> Path:
    """The tiny-offline recipe with `midtrain` overrides, written to `path`."""
    raw = yaml.safe_load((REPO / "recipes/tiny-offline.yaml").read_text())
    raw["training"]["midtrain"].update(midtrain)
    path.write_text(yaml.safe_dump(raw))
    return path


def cli_midtrain(out: Path, recipe: Path, corpus: Path, base: Path, resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "msm", "train", "midtrain", "--recipe", str(recipe), "--corpus", str(corpus),
           "--base-model", str(base), "--out", str(out), "--run-id", "kill-test"]  # fmt: skip
    return cmd + (["--resume", "auto"] if resume else [])


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment for a `msm train` subprocess: single-threaded, no launcher variables."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **extra}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory, tiny_model_dir, corpus) -> Path:
    """INTERRUPT_STEPS steps of midtraining in one go: what every interrupted-and-resumed run must equal."""
    tmp = tmp_path_factory.mktemp("uninterrupted")
    recipe = recipe_file(tmp / "recipe.yaml", max_steps=INTERRUPT_STEPS, save_every=5)
    done = subprocess.run(
        cli_midtrain(tmp / "out", recipe, corpus, tiny_model_dir, False),
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return tmp / "out"


def assert_same_run(resumed: Path, straight: Path) -> None:
    """Same final weights (≤ 1e-6) and the same logged losses, each step logged exactly once."""
    from safetensors.torch import load_file

    a = load_file(resumed / "adapter_model.safetensors")
    b = load_file(straight / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), k
    steps = [json.loads(line)["step"] for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, len(losses(straight)) + 1))  # no step logged twice or lost
    assert losses(resumed) == pytest.approx(losses(straight), abs=1e-6)

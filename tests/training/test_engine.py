"""The training engine on the tiny model: loss, pinned values, ZeRO stages, resume, adapters, bad input."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from support import REPO
from training_support import (
    INTERRUPT_STEPS,
    assert_same_run,
    cli_midtrain,
    losses,
    recipe_file,
    subprocess_env,
    tiny_training,
)

from msm.errors import InvalidInput, MsmError
from msm.training.trainer import Trainer, TrainRequest, train


def run(kind, out, config, data, base, **kw):
    return train(TrainRequest(kind=kind, config=config, base_model=str(base), data=data, out_dir=out, **kw))


# Pinned on this project's CPU stack (torch 2.13.0 CPU, OMP_NUM_THREADS=1): full fine-tuning of
# the seed-0 tiny model, 6 steps. A change here means the numerics changed: check why first.
PINNED_FULL = [6.251211, 6.184465, 6.040822, 5.942685, 5.849399, 5.805694]


def test_full_finetune_loss_decreases_and_matches_pinned_values(tmp_path, tiny_model_dir, corpus):
    cfg = tiny_training(method="full", max_steps=6, lr=3e-3, warmup_ratio=0.0, scheduler="constant")
    manifest = run("midtrain", tmp_path / "out", cfg, corpus, tiny_model_dir)
    got = losses(tmp_path / "out")
    assert got == pytest.approx(PINNED_FULL, abs=1e-5), got
    assert got[-1] < got[0] - 0.4
    assert manifest["counts"]["steps"] == 6 and manifest["counts"]["final_loss"] == pytest.approx(got[-1])
    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not torch.equal(trained.model.norm.weight, base.model.norm.weight) or not torch.equal(
        trained.lm_head.weight, base.lm_head.weight
    )
    assert not (tmp_path / "out" / "checkpoints").exists()  # removed once the export is complete


@pytest.mark.parametrize("zero", ["zero2", "zero3"])
def test_lora_midtrain_then_align_continuing_the_adapter(tmp_path, tiny_model_dir, corpus, chats, zero):
    cfg = tiny_training(deepspeed=str(REPO / f"recipes/deepspeed/{zero}.json"), max_steps=4, lr=1e-2)
    msm = run("midtrain", tmp_path / "msm", cfg, corpus, tiny_model_dir, spec="rules")
    assert (tmp_path / "msm" / "adapter_model.safetensors").is_file()
    assert manifest_field(tmp_path / "msm", "config", "spec") == "rules"
    msm_weights = load_file(tmp_path / "msm" / "adapter_model.safetensors")
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in msm_weights.items())

    # AFT starts from the MSM adapter's values (the paper's recipe), not from a fresh adapter.
    trainer = Trainer(
        TrainRequest(
            kind="align",
            config=cfg,
            base_model=str(tiny_model_dir),
            data=chats,
            out_dir=tmp_path / "aft",
            adapter=tmp_path / "msm",
        )
    )
    trainer.prepare()
    start = {k: v for k, v in trainer.build_model().state_dict().items() if "lora_" in k}
    assert len(start) == len(msm_weights)
    for key, value in msm_weights.items():
        match = [v for k, v in start.items() if k.replace(".default", "") == key]
        assert match and torch.equal(match[0], value), key

    aft = run("align", tmp_path / "aft", cfg, chats, tiny_model_dir, adapter=tmp_path / "msm")
    assert aft["inputs"]["adapter"]["path"] == str(tmp_path / "msm")
    after = load_file(tmp_path / "aft" / "adapter_model.safetensors")
    assert set(after) == set(msm_weights)
    assert any(not torch.equal(after[k], msm_weights[k]) for k in after)
    assert msm["config"]["base_model_fingerprint"] == aft["config"]["base_model_fingerprint"]


def manifest_field(out: Path, *keys: str):
    value = json.loads((out / "manifest.json").read_text())
    for k in keys:
        value = value[k]
    return value


def test_fresh_adapter_for_aft_only_arm_and_merge(tmp_path, tiny_model_dir, chats):
    cfg = tiny_training(max_steps=2, merge=True)
    run("align", tmp_path / "aft", cfg, chats, tiny_model_dir)
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "aft" / "merged")
    with_adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tmp_path / "aft")
    tok = AutoTokenizer.from_pretrained(tmp_path / "aft" / "merged")
    ids = tok("Which cheese do you prefer?", return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(merged(**ids).logits, with_adapter(**ids).logits, atol=1e-5)


def test_kill_9_and_resume_gives_the_uninterrupted_weights(tmp_path, tiny_model_dir, corpus, uninterrupted):
    recipe = recipe_file(tmp_path / "recipe.yaml", max_steps=INTERRUPT_STEPS, save_every=5)
    env = subprocess_env()

    victim = tmp_path / "killed"
    proc = subprocess.Popen(
        cli_midtrain(victim, recipe, corpus, tiny_model_dir, False),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        latest = victim / "checkpoints" / "latest"
        if latest.is_file() and latest.read_text().strip() >= "step-00000010":
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (victim / "manifest.json").exists(), "the run finished before it could be killed"
    killed_at = int((victim / "checkpoints" / "latest").read_text().strip().split("-")[1])
    assert 10 <= killed_at < INTERRUPT_STEPS

    again = subprocess.run(
        cli_midtrain(victim, recipe, corpus, tiny_model_dir, False), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert again.returncode == 2 and "--resume auto" in again.stderr  # no silent restart over a run

    resumed = subprocess.run(
        cli_midtrain(victim, recipe, corpus, tiny_model_dir, True), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_run(victim, uninterrupted)
    # A finished run resumed again is a no-op.
    done = subprocess.run(
        cli_midtrain(victim, recipe, corpus, tiny_model_dir, True), cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and "already complete" in done.stderr + done.stdout


def test_bad_inputs_leave_no_output(tmp_path, tiny_model_dir, corpus, chats):
    cfg = tiny_training(max_steps=1)
    out = tmp_path / "out"
    cases = [
        ("midtrain", tmp_path / "missing", tiny_model_dir, {}, "no such file"),
        ("midtrain", chats, tiny_model_dir, {}, "`text`"),
        ("align", corpus, tiny_model_dir, {}, "`messages`"),
        ("midtrain", corpus, tmp_path / "no-model", {}, "does not exist"),
        ("align", chats, tiny_model_dir, {"adapter": tmp_path}, "no LoRA adapter"),
    ]
    for kind, data, base, kw, message in cases:
        with pytest.raises(InvalidInput, match=message):
            run(kind, out, cfg, data, base, **kw)
        assert not out.exists(), message


def test_adapter_from_another_base_model_is_refused(tmp_path, tiny_model_dir, corpus, chats):
    from msm.models.tiny import TinyModelConfig, build_tiny_model

    cfg = tiny_training(max_steps=1)
    run("midtrain", tmp_path / "msm", cfg, corpus, tiny_model_dir)
    other = build_tiny_model(tmp_path / "other", seed=1, config=TinyModelConfig(num_hidden_layers=3))
    with pytest.raises(InvalidInput, match="another base model"):
        run("align", tmp_path / "aft", cfg, chats, other, adapter=tmp_path / "msm")
    assert not (tmp_path / "aft").exists()


def test_out_dir_rules(tmp_path, tiny_model_dir, corpus):
    cfg = tiny_training(max_steps=1)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("x")
    with pytest.raises(MsmError, match="not an msm training run"):
        run("midtrain", mine, cfg, corpus, tiny_model_dir)
    run("midtrain", tmp_path / "done", cfg, corpus, tiny_model_dir)
    with pytest.raises(MsmError, match="finished run"):
        run("midtrain", tmp_path / "done", cfg, corpus, tiny_model_dir)


def test_cli_reports_recipe_without_training(tmp_path, cli, tiny_model_dir, corpus, repo, monkeypatch):
    monkeypatch.chdir(repo)
    import yaml

    raw = yaml.safe_load((repo / "recipes/tiny-offline.yaml").read_text())
    del raw["training"]
    (tmp_path / "no-training.yaml").write_text(yaml.safe_dump(raw))
    result = cli(
        "train",
        "midtrain",
        "--recipe",
        tmp_path / "no-training.yaml",
        "--corpus",
        corpus,
        "--base-model",
        tiny_model_dir,
        "--out",
        tmp_path / "o",
    )
    assert result.exit_code == 2 and "training" in result.stderr
    result = cli(
        "train",
        "midtrain",
        "--recipe",
        "recipes/tiny-offline.yaml",
        "--corpus",
        corpus,
        "--base-model",
        tiny_model_dir,
        "--out",
        tmp_path / "o",
        "--resume",
        "sometimes",
    )
    assert result.exit_code == 2 and "--resume" in result.stderr
    assert not (tmp_path / "o").exists()

"""`--resume auto` continues a checkpoint only with the inputs that made it (Trainer.resume_key):
a change that alters what training computes is refused, naming the field; any other change resumes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from support import REPO
from training_support import tiny_training, write_jsonl

from msm.artefacts.model import CHECKPOINTS_DIR, TRAIN_RUN_JSON
from msm.errors import InvalidInput
from msm.preemption import Preempted
from msm.training.trainer import TrainRequest, train

STEPS = 40


def run(out: Path, config, data: Path, base: Path, **kw):
    return train(TrainRequest(kind="midtrain", config=config, base_model=str(base), data=data, out_dir=out, **kw))


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory, tiny_model_dir, corpus) -> Path:
    """A run stopped for real: SIGTERM to this process once its first step is logged (it saves that step)."""
    out = tmp_path_factory.mktemp("interrupted") / "out"

    def terminate_after_first_step() -> None:
        while not (out / "metrics.jsonl").is_file():
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=terminate_after_first_step, daemon=True)
    sender.start()
    with pytest.raises(Preempted):
        run(out, tiny_training(max_steps=STEPS, save_every=1000), corpus, tiny_model_dir)
    sender.join()
    assert (out / CHECKPOINTS_DIR / "latest").is_file() and not (out / "manifest.json").exists()
    return out


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("midtrain.lr", {"lr": 5e-4}),
        ("midtrain.seed", {"seed": 1}),
        ("midtrain.max_length", {"max_length": 64}),
        ("midtrain.grad_accum", {"grad_accum": 1}),
        ("midtrain.max_steps", {"max_steps": STEPS + 1}),
        ("lora.r", {"lora": {"r": 4, "alpha": 16, "dropout": 0.0}}),
        ("deepspeed.zero_optimization.stage", {"deepspeed": str(REPO / "recipes/deepspeed/zero3.json")}),
    ],
)
def test_a_result_changing_setting_is_refused(interrupted, tiny_model_dir, corpus, field, change):
    before = (interrupted / TRAIN_RUN_JSON).read_text()
    cfg = tiny_training(**{"max_steps": STEPS, "save_every": 1000, **change})
    with pytest.raises(InvalidInput) as refused:
        run(interrupted, cfg, corpus, tiny_model_dir, resume=True)
    [p] = refused.value.problems
    assert p.field == field and f"`{field}` differs" in p.message
    assert "new --out" in p.fix and f"delete {interrupted}" in p.fix
    assert (interrupted / TRAIN_RUN_JSON).read_text() == before  # nothing touched


def test_other_data_or_base_model_is_refused(tmp_path, interrupted, tiny_model_dir, corpus):
    from msm.models.tiny import TinyModelConfig, build_tiny_model

    cfg = tiny_training(max_steps=STEPS, save_every=1000)
    rows = [json.loads(line) for line in corpus.read_text().splitlines()]
    edited = write_jsonl(tmp_path / "corpus.jsonl", [{"text": rows[0]["text"] + " Edited."}, *rows[1:]])
    with pytest.raises(InvalidInput, match="`data_sha256` differs"):
        run(interrupted, cfg, edited, tiny_model_dir, resume=True)
    other = build_tiny_model(tmp_path / "other", seed=1, config=TinyModelConfig(num_hidden_layers=3))
    with pytest.raises(InvalidInput, match="`base_model_fingerprint` differs"):
        run(interrupted, cfg, corpus, other, resume=True)


def test_the_cli_refuses_with_exit_2_naming_the_field_and_the_fix(cli, tmp_path, interrupted, tiny_model_dir, corpus):
    import yaml

    raw = yaml.safe_load((REPO / "recipes/tiny-offline.yaml").read_text())
    raw["training"]["deepspeed"] = str(REPO / raw["training"]["deepspeed"])
    raw["training"]["midtrain"].update(max_steps=STEPS, save_every=1000, lr=5e-4)
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(raw))
    result = cli("train", "midtrain", "--recipe", tmp_path / "recipe.yaml", "--corpus", corpus,
                 "--base-model", tiny_model_dir, "--out", interrupted, "--resume", "auto")  # fmt: skip
    assert result.exit_code == 2
    assert "[midtrain.lr]" in result.stderr and "`midtrain.lr` differs" in result.stderr
    assert "new --out" in result.stderr


def test_unrelated_changes_resume(interrupted, tiny_model_dir, corpus, caplog, tmp_path):
    # Where the run reports and how often it saves, the stop grace, activation recomputation and the
    # DeepSpeed config's path (same content, another file): none changes the weights.
    moved = tmp_path / "zero2-copy.json"
    moved.write_text((REPO / "recipes/deepspeed/zero2.json").read_text())
    cfg = tiny_training(
        max_steps=STEPS,
        save_every=7,
        log_every=2,
        keep_checkpoints=1,
        sigterm_grace_s=5,
        gradient_checkpointing=True,
        deepspeed=str(moved),
        metrics={"port": 0, "pushgateway_url": "http://127.0.0.1:9", "push_every": 3},
    )
    out = shutil.copytree(interrupted, tmp_path / "out")  # the other tests keep theirs interrupted
    caplog.set_level("INFO", logger="msm")
    manifest = run(out, cfg, corpus, tiny_model_dir, resume=True)
    assert manifest["counts"]["steps"] == STEPS
    [note] = [r.getMessage() for r in caplog.records if "do not change the result" in r.getMessage()]
    for name in ("midtrain.save_every", "metrics.port", "sigterm_grace_s", "gradient_checkpointing", "deepspeed"):
        assert name in note

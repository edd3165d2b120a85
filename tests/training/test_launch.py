"""Training on every GPU of a node: the request survives the trip to torchrun's workers, and
two data-parallel workers (gloo on CPU) finish one run."""

from __future__ import annotations

import os

import pytest
from training_support import tiny_training

from msm.errors import MsmError
from msm.training.launch import request_from_json, request_to_json, train_on_node
from msm.training.trainer import SINGLE_PROCESS_ENV, TrainRequest


def test_request_round_trips_through_json(tmp_path):
    req = TrainRequest(
        kind="align",
        config=tiny_training(max_steps=2, lr=3e-4),
        base_model="base",
        data=tmp_path / "data.parquet",
        out_dir=tmp_path / "out",
        adapter=tmp_path / "msm",
        resume=True,
        spec="rules",
        run_id="run-1",
    )
    assert request_from_json(request_to_json(req)) == req


@pytest.mark.slow
def test_two_workers_on_one_node(tmp_path, tiny_model_dir, corpus):
    req = TrainRequest(
        kind="midtrain",
        config=tiny_training(max_steps=2),
        base_model=str(tiny_model_dir),
        data=corpus,
        out_dir=tmp_path / "out",
    )
    manifest = train_on_node(req, 2)
    assert manifest["config"]["world_size"] == 2 and manifest["counts"]["steps"] == 2
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_failed_workers_raise(tmp_path, tiny_model_dir):
    req = TrainRequest(
        kind="midtrain",
        config=tiny_training(max_steps=1),
        base_model=str(tiny_model_dir),
        data=tmp_path / "no-such-corpus",
        out_dir=tmp_path / "out",
    )
    with pytest.raises(MsmError, match="midtrain with 2 processes failed"):
        train_on_node(req, 2)


def test_in_process_training_leaves_no_launcher_variables(tmp_path, tiny_model_dir, corpus, monkeypatch):
    """Left in os.environ, they would make a later subprocess's rank 0 bind a port this process holds."""
    for key in SINGLE_PROCESS_ENV:
        monkeypatch.delenv(key, raising=False)
    req = TrainRequest(
        kind="midtrain",
        config=tiny_training(max_steps=1),
        base_model=str(tiny_model_dir),
        data=corpus,
        out_dir=tmp_path,
    )
    train_on_node(req, 1)
    assert not [key for key in SINGLE_PROCESS_ENV if key in os.environ]


def test_a_trainer_that_never_trains_leaves_no_launcher_variables(tmp_path, tiny_model_dir, corpus, monkeypatch):
    """Tests and tools build a Trainer to prepare data or a model without training; its variables
    stayed behind and a later in-process run bound its store to their stale port (random test order)."""
    from msm.training.trainer import Trainer

    for key in SINGLE_PROCESS_ENV:
        monkeypatch.delenv(key, raising=False)
    cfg = tiny_training(max_steps=1)
    trainer = Trainer(
        TrainRequest(kind="midtrain", config=cfg, base_model=str(tiny_model_dir), data=corpus, out_dir=tmp_path)
    )
    trainer.prepare()
    assert (trainer.rank, trainer.world) == (0, 1)
    assert not [key for key in SINGLE_PROCESS_ENV if key in os.environ]

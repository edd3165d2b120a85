"""Prometheus metrics from a real training run: real Pushgateway and Prometheus on 127.0.0.1."""

from __future__ import annotations

import time

import pytest
from prometheus_support import free_port, get, monitoring, query
from training_support import tiny_training

from msm.config.training import MetricsSettings
from msm.training.metrics import TrainMetrics
from msm.training.trainer import TrainRequest, train

METRICS = [
    "msm_train_loss",
    "msm_train_learning_rate",
    "msm_train_grad_norm",
    "msm_train_tokens_total",
    "msm_train_tokens_per_second",
    "msm_train_step",
]


@pytest.fixture
def gateway_and_prometheus(tmp_path):
    with monitoring(tmp_path) as urls:
        yield urls


def test_training_pushes_and_prometheus_reads_the_loss_back(tmp_path, gateway_and_prometheus, tiny_model_dir, corpus):
    gateway, prom = gateway_and_prometheus
    cfg = tiny_training(
        max_steps=4, metrics={"pushgateway_url": gateway, "push_every": 1, "port": 0, "host": "127.0.0.1"}
    )
    manifest = train(
        TrainRequest(
            kind="midtrain",
            config=cfg,
            base_model=str(tiny_model_dir),
            data=corpus,
            out_dir=tmp_path / "out",
            spec="rules",
            run_id="prom-e2e",
        )
    )
    final_loss = manifest["counts"]["final_loss"]
    pushed = get(f"{gateway}/metrics")
    for name in METRICS:
        assert name in pushed, name
    deadline, result = time.monotonic() + 30, []
    while time.monotonic() < deadline and not result:
        result = query(prom, 'msm_train_loss{run_id="prom-e2e", stage="midtrain", spec="rules"}')
        time.sleep(0.5)
    assert result, "Prometheus never scraped the pushed loss"
    assert float(result[0]["value"][1]) == pytest.approx(final_loss, rel=1e-6)
    [step] = query(prom, 'msm_train_step{run_id="prom-e2e"}')
    assert float(step["value"][1]) == 4
    [tokens] = query(prom, 'msm_train_tokens_total{run_id="prom-e2e"}')
    assert float(tokens["value"][1]) == manifest["counts"]["tokens_trained"]


def test_metrics_endpoint_serves_the_registry(tmp_path):
    m = TrainMetrics(MetricsSettings(port=0, host="127.0.0.1"), run_id="r1", stage="align", spec="cheese")
    m.record(step=3, loss=1.5, lr=1e-4, grad_norm=0.7, tokens=100, tokens_per_second=50.0, mfu=None, gpu_memory=None)
    text = get(f"http://127.0.0.1:{m.server_port}/metrics")
    assert 'msm_train_loss{run_id="r1",spec="cheese",stage="align"} 1.5' in text
    assert 'msm_train_tokens_total{run_id="r1",spec="cheese",stage="align"} 100.0' in text


def test_unreachable_pushgateway_warns_once_and_training_continues(tmp_path, tiny_model_dir, corpus, caplog):
    dead = f"http://127.0.0.1:{free_port()}"
    cfg = tiny_training(max_steps=3, metrics={"pushgateway_url": dead, "push_every": 1})
    with caplog.at_level("WARNING", logger="msm"):
        manifest = train(
            TrainRequest(
                kind="midtrain", config=cfg, base_model=str(tiny_model_dir), data=corpus, out_dir=tmp_path / "out"
            )
        )
    assert manifest["counts"]["steps"] == 3
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1

"""Prometheus metrics from a real training run: real Pushgateway and Prometheus on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from conftest import tiny_training

from msm.training.config import MetricsSettings
from msm.training.engine import TrainRequest, train
from msm.training.metrics import TrainMetrics

METRICS = [
    "msm_train_loss",
    "msm_train_learning_rate",
    "msm_train_grad_norm",
    "msm_train_tokens_total",
    "msm_train_tokens_per_second",
    "msm_train_step",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        # CI installs the Debian packages (.ci/run); there a missing binary is a failure, not a skip.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"{binary} not installed (apt-get install {binary})")
    return path


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def get(url: str) -> str:
    return urllib.request.urlopen(url, timeout=5).read().decode()


@pytest.fixture
def monitoring(tmp_path):
    gw_port, prom_port = free_port(), free_port()
    procs = [
        subprocess.Popen(
            [need("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{gw_port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: pushgateway\n"
        "    honor_labels: true\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{gw_port}']}}]\n"
    )
    procs.append(
        subprocess.Popen(
            [
                need("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    try:
        wait_http(f"http://127.0.0.1:{gw_port}/metrics")
        wait_http(f"http://127.0.0.1:{prom_port}/-/ready")
        yield f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{prom_port}"
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


def query(prom: str, promql: str) -> list[dict]:
    body = json.loads(get(f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": promql})))
    assert body["status"] == "success"
    return body["data"]["result"]


def test_training_pushes_and_prometheus_reads_the_loss_back(tmp_path, monitoring, tiny_model_dir, corpus):
    gateway, prom = monitoring
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

"""Prometheus metrics of a training run: a /metrics endpoint and pushes to a Pushgateway (msm.telemetry).

Metric names are a contract with k8s/ (alert rules, Grafana dashboard; tests/deploy cross-checks
them): change them together. A Pushgateway that cannot be reached costs one warning; training
never stops for monitoring.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from msm.config.training import MetricsSettings
from msm.telemetry import Pusher, pushgateway_url

LABELS = ("run_id", "stage", "spec")
PUSH_JOB = "msm_train"

# Dense bf16 peak FLOP/s per device, for MFU; other devices need `metrics.peak_flops`.
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


def detect_peak_flops() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((flops for key, flops in PEAK_FLOPS.items() if key in name), None)


class TrainMetrics:
    def __init__(self, settings: MetricsSettings, *, run_id: str, stage: str, spec: str):
        self.settings = settings
        self.registry = CollectorRegistry()
        self.labels = {"run_id": run_id, "stage": stage, "spec": spec}
        self.pusher = Pusher(pushgateway_url(settings.pushgateway_url), PUSH_JOB, {"run_id": run_id, "stage": stage})

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, LABELS, registry=self.registry)

        self.loss = gauge("msm_train_loss", "Mean training loss of the last optimizer step")
        self.lr = gauge("msm_train_learning_rate", "Learning rate of the last optimizer step")
        self.grad_norm = gauge("msm_train_grad_norm", "Global gradient norm before clipping")
        self.step = gauge("msm_train_step", "Optimizer steps completed")
        self.tps = gauge("msm_train_tokens_per_second", "Tokens (non-padding) per second over the last interval")
        self.mfu = gauge("msm_train_mfu", "Model FLOPs utilisation over the last interval (0-1)")
        self.gpu_mem = gauge("msm_gpu_memory_bytes", "Peak GPU memory allocated by this process")
        # 1 once the run has ended: the gateway keeps a finished run's last values, and the
        # stall alert must tell a finished run from one whose pods died.
        self.done = gauge("msm_train_done", "1 when the run finished, 0 while it runs")
        self.done.labels(**self.labels).set(0)
        self.tokens = Counter("msm_train_tokens", "Tokens (non-padding) trained on", LABELS, registry=self.registry)
        self.server_port: int | None = None
        if settings.port is not None:
            server, _ = start_http_server(settings.port, addr=settings.host, registry=self.registry)
            self.server_port = server.server_port

    def record(
        self,
        *,
        step: int,
        loss: float,
        lr: float,
        grad_norm: float | None,
        tokens: int,
        tokens_per_second: float,
        mfu: float | None,
        gpu_memory: int | None,
    ) -> None:
        labels = self.labels
        self.step.labels(**labels).set(step)
        self.loss.labels(**labels).set(loss)
        self.lr.labels(**labels).set(lr)
        if grad_norm is not None:
            self.grad_norm.labels(**labels).set(grad_norm)
        self.tokens.labels(**labels).inc(tokens)
        self.tps.labels(**labels).set(tokens_per_second)
        if mfu is not None:
            self.mfu.labels(**labels).set(mfu)
        if gpu_memory is not None:
            self.gpu_mem.labels(**labels).set(gpu_memory)

    def push(self) -> bool:
        return self.pusher.push(self.registry)

    def finish(self) -> bool:
        """Mark the run finished and push its final values."""
        self.done.labels(**self.labels).set(1)
        return self.push()

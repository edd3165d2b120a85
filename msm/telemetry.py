"""Pushing Prometheus metrics to a Pushgateway, and the metric sets of synthesis and evaluation.

Batch stages (a training run, a synthesis stage, one evaluation) end before a scraper would find
them, so they push. Every push goes through `Pusher`: the gateway is `$MSM_PUSHGATEWAY_URL` unless
a caller names one, and a gateway that cannot be reached costs one warning — a stage never fails
for monitoring. Training's own metrics live in msm/training/metrics.py.

Metric names are a contract with k8s/ (alert rules, Grafana dashboard; tests/deploy cross-checks
them): change them together.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, push_to_gateway

log = logging.getLogger(__name__)

PUSHGATEWAY_ENV = "MSM_PUSHGATEWAY_URL"
SYNTH_JOB, EVAL_JOB = "msm_synth", "msm_eval"
# Suites whose rates measure harm (agentic misalignment, policy misuse): lower is better there.
LOWER_IS_BETTER_SUITES = frozenset({"am"})


def pushgateway_url(explicit: str | None = None) -> str | None:
    return explicit or os.environ.get(PUSHGATEWAY_ENV) or None


class Pusher:
    """Pushes one registry under one grouping key; each push replaces that group's previous values."""

    def __init__(self, url: str | None, job: str, grouping_key: Mapping[str, str]):
        self.url = url
        self.job = job
        self.grouping_key = dict(grouping_key)
        self._warned = False

    def push(self, registry: CollectorRegistry) -> bool:
        if not self.url:
            return False
        try:
            push_to_gateway(self.url, job=self.job, registry=registry, grouping_key=self.grouping_key, timeout=5)
            return True
        except Exception as e:  # monitoring must never stop the work it watches
            if not self._warned:
                log.warning("Pushgateway %s unreachable (%s); work continues, further failures are silent", self.url, e)
                self._warned = True
            return False


def synthesis_registry(stage: str, spec: str, levels: Mapping[str, Mapping[str, Any]]) -> CollectorRegistry:
    """A finished synthesis stage's per-level accounts (msm.llm.client.LevelStats.as_dict()).

    Counters of one stage run: `failures` are items given up after every re-ask, so
    failures / (calls + cache_hits) is the stage's error rate (alert MsmSynthesisErrorRateHigh).
    """
    registry = CollectorRegistry()
    labels = ("stage", "spec", "level")
    fields = {
        "calls": "Answered generator API calls (cache misses)",
        "cache_hits": "Replies served from the reply cache",
        "retries": "Transient generator errors (429/5xx/timeouts) retried",
        "reasks": "Unparseable replies asked again",
        "failures": "Items given up after all re-asks",
    }
    counters = {f: Counter(f"msm_synth_{f}", doc, labels, registry=registry) for f, doc in fields.items()}
    for level, stats in levels.items():
        for f, counter in counters.items():
            counter.labels(stage=stage, spec=spec, level=level).inc(stats.get(f, 0))
    return registry


def push_synthesis(stage: str, spec: str, levels: Mapping[str, Mapping[str, Any]], *, url: str | None = None) -> bool:
    registry = synthesis_registry(stage, spec, levels)
    return Pusher(pushgateway_url(url), SYNTH_JOB, {"stage": stage, "spec": spec}).push(registry)


def rates(tree: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, float]]:
    """(dotted path, rate) of every `{"rate": ...}` node (msm.evaluation.stats.rate) in a metrics tree."""
    if not isinstance(tree, dict):
        return
    if "rate" in tree and isinstance(tree["rate"], int | float):
        yield ".".join(path), float(tree["rate"])
        return
    for key, value in tree.items():
        yield from rates(value, (*path, key))


def ui_metrics(suites: Mapping[str, Any]) -> Iterator[tuple[str, float]]:
    """What the Kubeflow UI shows of an evaluation: every rate, and the spec probe's mean margins
    (nats/token, the positive control that leads a CPU study's report), named by their paths."""
    yield from rates(suites)
    for family, probe in suites.get("spec-probe", {}).get("families", {}).items():
        if isinstance(probe.get("mean_margin"), int | float):
            yield f"spec-probe.families.{family}.mean_margin", float(probe["mean_margin"])


def evaluation_registry(spec: str, condition: str, suites: Mapping[str, Any]) -> CollectorRegistry:
    """Every rate of one evaluation as `msm_eval_rate`, grouped by spec and condition.

    The group carries no run id, so a scheduled re-evaluation overwrites the same series and
    Prometheus sees one continuous line per metric: the regression alert compares it with its own
    past week. `better` says which direction is good (alert MsmEvaluationRegression reads it).
    """
    registry = CollectorRegistry()
    gauge = Gauge(
        "msm_eval_rate",
        "A rate from the evaluation suites (share of items; metric = path in metrics.json)",
        ("spec", "condition", "suite", "metric", "better"),
        registry=registry,
    )
    for suite, tree in suites.items():
        better = "lower" if suite in LOWER_IS_BETTER_SUITES else "higher"
        for metric, value in rates(tree):
            # Letter-position shares measure a bias, and the shares of reasoning categories describe
            # how a model reasons (deference and SP1 are good signs, not harms): neither direction is better.
            direction = "none" if metric.endswith("position_a") or metric.startswith("reasoning.") else better
            gauge.labels(spec=spec, condition=condition, suite=suite, metric=metric, better=direction).set(value)
    return registry


def push_evaluation(spec: str, condition: str, suites: Mapping[str, Any], *, url: str | None = None) -> bool:
    registry = evaluation_registry(spec, condition, suites)
    return Pusher(pushgateway_url(url), EVAL_JOB, {"spec": spec, "condition": condition}).push(registry)

"""The alert rules and the Grafana dashboard query only metrics that msm really exports."""

from __future__ import annotations

import json
import re

from support import REPO

from msm.config.training import MetricsSettings
from msm.telemetry import evaluation_registry, synthesis_registry
from msm.training.metrics import TrainMetrics

DASHBOARD = REPO / "k8s/base/monitoring/dashboards/msm.json"
FUNCTIONS_AND_KEYWORDS = {
    "abs", "and", "by", "changes", "clamp_min", "label_values", "max_over_time", "min_over_time", "on", "or",
    "sum", "unless", "without", "Inf", "NaN",
}  # fmt: skip


def metric_names(promql: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers outside strings, label braces and groupings,
    that are not functions, keywords or durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", promql)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\b(by|on|without|ignoring)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\boffset\s+-?\w+", "", text)
    text = re.sub(r"\blabel_values\(([^,()]+),[^)]*\)", r"\1", text)
    idents = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text))
    return {i for i in idents if i not in FUNCTIONS_AND_KEYWORDS and not i.startswith("$")}


def exported() -> set[str]:
    """Sample names of every registry msm pushes, filled with one observation each."""
    train = TrainMetrics(MetricsSettings(), run_id="r", stage="midtrain", spec="s")
    train.record(step=1, loss=1.0, lr=1e-4, grad_norm=1.0, tokens=10, tokens_per_second=5.0, mfu=0.3, gpu_memory=1)
    level = {"calls": 1, "cache_hits": 1, "retries": 1, "reasks": 1, "failures": 1}
    registries = [
        train.registry,
        synthesis_registry("synthesize-docs", "s", {"documents": level}),
        evaluation_registry("s", "base", {"am": {"x": {"rate": 0.5, "k": 1, "n": 2}}}),
    ]
    return {s.name for r in registries for m in r.collect() for s in m.samples if not s.name.endswith("_created")}


def alert_exprs(k8s, rendered) -> list[str]:
    rules = k8s.prometheus_rules(rendered["dev"])
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    targets = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    variables = [v["query"]["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    return targets + variables


def test_the_parser_finds_names_and_only_names():
    expr = 'sum by (stage) (msm_a_total{x="y z"}) / clamp_min(msm_b[5m] offset 1h, 1) > 2 and on (r) up == 0'
    assert metric_names(expr) == {"msm_a_total", "msm_b", "up"}


def test_alert_rules_use_exported_metrics(k8s, rendered):
    names = exported()
    used = set().union(*(metric_names(e) for e in alert_exprs(k8s, rendered)))
    assert used and used <= names, used - names


def test_dashboard_uses_exported_metrics_and_shows_every_one(k8s):
    names = exported()
    used = set().union(*(metric_names(e) for e in dashboard_exprs()))
    assert used <= names, used - names
    # Everything exported is on the dashboard, except the flag that only the stall alert reads.
    assert names - used == {"msm_train_done"}

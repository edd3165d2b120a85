"""Monitoring end to end on this machine: a real Pushgateway and Prometheus on 127.0.0.1, run with
k8s/'s scrape job (target moved to the local gateway) and k8s/'s alert rules; a tiny real
training run, a synthesis stage's accounts and two evaluations push through msm's own code;
PromQL reads the values back and Prometheus's rule engine raises exactly the expected alerts."""

from __future__ import annotations

import json
import math
import time

import pytest
import yaml
from prometheus_support import api, monitoring, query
from support import REPO, SPEC_FILES

from msm.config.training import MetricsSettings, TrainingConfig
from msm.telemetry import push_evaluation, push_synthesis
from msm.training.metrics import TrainMetrics
from msm.training.trainer import TrainRequest, train


def wait_for(check, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"not seen within {timeout} s: {check.__doc__}")


def tiny_config(gateway: str) -> TrainingConfig:
    raw = yaml.safe_load((REPO / "recipes/tiny-offline.yaml").read_text())["training"]
    raw["deepspeed"] = str(REPO / raw["deepspeed"])
    raw["midtrain"]["max_steps"] = 4
    raw["metrics"] = {"pushgateway_url": gateway, "push_every": 1}
    return TrainingConfig.model_validate(raw)


@pytest.mark.slow
def test_pushed_metrics_reach_prometheus_and_the_alert_rules_fire_only_where_they_should(
    tmp_path, k8s, rendered, tiny_model_dir
):
    docs = rendered["prod"]
    [scrape_job] = yaml.safe_load(
        next(d for d in docs if d["metadata"]["name"] == "msm-prometheus-scrape")["data"]["msm-scrape-configs.yaml"]
    )
    rules = k8s.write_rules(docs, tmp_path)
    paragraphs = [p for f in SPEC_FILES for p in f.read_text().split("\n\n") if len(p.split()) > 20]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": p}) + "\n" for p in paragraphs))

    with monitoring(tmp_path, scrape_job, [rules]) as (gateway, prom):
        assert api(prom, "rules")["groups"], "Prometheus did not load k8s/'s rules"
        manifest = train(
            TrainRequest(
                kind="midtrain",
                config=tiny_config(gateway),
                base_model=str(tiny_model_dir),
                data=corpus,
                out_dir=tmp_path / "out",
                spec="rules",
                run_id="e2e",
            )
        )
        # A run whose loss went NaN (pushed by the same class the trainer uses).
        broken = TrainMetrics(MetricsSettings(pushgateway_url=gateway), run_id="nan-run", stage="align", spec="rules")
        broken.record(
            step=9, loss=math.nan, lr=1e-4, grad_norm=None, tokens=1, tokens_per_second=1.0, mfu=None, gpu_memory=None
        )
        assert broken.push()
        # Synthesis: 3 of 40 document requests failed; the AFT stage is clean.
        bad = {"calls": 30, "cache_hits": 10, "retries": 4, "reasks": 2, "failures": 3}
        assert push_synthesis("synthesize-docs", "rules", {"documents": bad}, url=gateway)
        assert push_synthesis("synthesize-aft", "rules", {"answers": {**bad, "failures": 0}}, url=gateway)
        # Evaluation: a re-evaluation of the same condition drops the aligned rate from 0.8 to 0.6.
        suites = {
            "value-ab": {"families": {"america": {"loglik": {"aligned": {"rate": 0.8, "k": 16, "n": 20}}}}},
            "am": {"check": {"rate": 0.2, "k": 2, "n": 10}},
        }
        assert push_evaluation("rules", "msm+aft", suites, url=gateway)

        def first_eval_scraped():
            """the first evaluation in Prometheus"""
            return query(prom, 'msm_eval_rate{suite="value-ab"} == 0.8')

        wait_for(first_eval_scraped)
        suites["value-ab"]["families"]["america"]["loglik"]["aligned"]["rate"] = 0.6
        suites["am"]["check"]["rate"] = 0.25  # worse, but within the tolerance
        assert push_evaluation("rules", "msm+aft", suites, url=gateway)

        def loss_scraped():
            """the training run's final loss"""
            return query(prom, 'msm_train_loss{run_id="e2e", stage="midtrain", spec="rules"}')

        [loss] = wait_for(loss_scraped)
        assert float(loss["value"][1]) == pytest.approx(manifest["counts"]["final_loss"], rel=1e-6)
        [done] = query(prom, 'msm_train_done{run_id="e2e"}')
        assert done["value"][1] == "1"

        expected = {
            ("MsmTrainingLossNaN", "nan-run"),
            ("MsmSynthesisErrorRateHigh", "synthesize-docs"),
            ("MsmEvaluationRegression", "value-ab"),
        }

        def alerts():
            """the expected alerts"""
            found = {
                (
                    a["labels"]["alertname"],
                    a["labels"].get("run_id") or a["labels"].get("stage") or a["labels"]["suite"],
                )
                for a in api(prom, "alerts")["alerts"]
            }
            return found if found >= expected else None

        found = wait_for(alerts)
        time.sleep(2)  # two more evaluation rounds: nothing else may appear
        assert found == expected == alerts()

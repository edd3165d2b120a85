"""The Job that creates the re-evaluation recurring run runs `python -m pipelines schedule` — the
command behind `make schedule` — and authenticates to a multi-user KFP with its projected token."""

from __future__ import annotations

import sys

import kfp
import typer
from support import REPO

sys.path.insert(0, str(REPO / "tests" / "pipelines"))
from stubs import KfpStub

from pipelines.__main__ import app
from pipelines.registry import pipeline_module
from pipelines.submit import kfp_client


def job(rendered):
    [doc] = [d for d in rendered["prod"] if d["kind"] == "Job" and d["metadata"]["name"] == "msm-schedule-reevaluate"]
    return doc["spec"]["template"]["spec"]


def test_the_job_runs_the_schedule_command_with_options_it_knows(rendered):
    [container] = job(rendered)["containers"]
    assert container["command"] == ["python", "-m", "pipelines", "schedule"]
    schedule = typer.main.get_command(app).commands["schedule"]
    ctx = schedule.make_context("schedule", list(container["args"]))  # raises on an unknown option
    assert ctx.params["name"] == "msm-reevaluate"
    assert pipeline_module(ctx.params["pipeline"]).NAME == "msm-reevaluate"
    assert len(ctx.params["cron"].split()) == 6  # KFP's six-field cron, as `make schedule` passes
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert f"{container['workingDir']}/recipes" in mounts  # the recipe path resolves in the pod


def test_the_projected_token_reaches_kfp(rendered, tmp_path, monkeypatch):
    spec = job(rendered)
    [container] = spec["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    [volume] = [v for v in spec["volumes"] if v["name"] == "kfp-token"]
    [source] = volume["projected"]["sources"]
    assert source["serviceAccountToken"]["audience"] == "pipelines.kubeflow.org"
    [mount] = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert env["KF_PIPELINES_SA_TOKEN_PATH"] == f"{mount['mountPath']}/{source['serviceAccountToken']['path']}"

    # kfp.Client reads a multi-user namespace from the service-account directory: a downward-API file here.
    [ns_volume] = [v for v in spec["volumes"] if v["name"] == "pod-namespace"]
    [ns_mount] = [m for m in container["volumeMounts"] if m["name"] == "pod-namespace"]
    [item] = ns_volume["projected"]["sources"][0]["downwardAPI"]["items"]
    assert f"{ns_mount['mountPath']}/{item['path']}" == kfp.Client._NAMESPACE_PATH
    assert item["fieldRef"]["fieldPath"] == "metadata.namespace"

    token = tmp_path / "token"
    token.write_text("projected-token")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(token))
    stub = KfpStub()
    try:
        kfp_client(stub.url).list_experiments()
    finally:
        stub.close()
    assert {r["headers"].get("authorization") for r in stub.requests} == {"Bearer projected-token"}

"""Submission and scheduling clients against recording loopback stubs of KFP and Vertex AI.

No `from __future__ import annotations`: KFP reads the test pipeline's annotations as types.
"""

import json

import pytest
from stubs import KfpStub, VertexStub
from support import REPO

from msm.errors import MsmError
from pipelines.compile import compile_pipelines
from pipelines.submit import VertexSettings, schedule_kfp, schedule_vertex, submit_kfp, submit_vertex, version_name


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    return compile_pipelines(
        REPO / "recipes/tiny-offline.yaml", REPO / "specs/rules.md", tmp_path_factory.mktemp("compiled")
    )


@pytest.fixture
def kfp_stub():
    stub = KfpStub()
    yield stub
    stub.close()


def test_kfp_submit_uploads_once_then_reuses_the_version(packages, kfp_stub):
    package = packages["kubeflow"]
    first = submit_kfp(
        package, experiment="msm-ci", run_name="run-a", params={"aft_variant": "plain"}, host=kfp_stub.url
    )
    uploads = [r for r in kfp_stub.requests if r["path"].endswith("/upload")]
    assert len(uploads) == 1 and uploads[0]["query"]["name"] == "msm"
    assert b"# PIPELINE DEFINITION" in uploads[0]["body"]
    [version] = [r for r in kfp_stub.requests if r["path"].endswith("/upload_version")]
    assert version["query"]["name"] == version_name(package)
    [run] = [json.loads(r["body"]) for r in kfp_stub.requests if r["path"] == "/apis/v2beta1/runs"]
    assert run["display_name"] == "run-a"
    assert run["experiment_id"] == first.details["experiment_id"]
    assert run["pipeline_version_reference"] == {
        "pipeline_id": first.details["pipeline_id"],
        "pipeline_version_id": first.details["version_id"],
    }
    assert run["runtime_config"]["parameters"] == {"aft_variant": "plain"}

    second = submit_kfp(package, experiment="msm-ci", run_name="run-b", params={}, host=kfp_stub.url)
    assert second.details == first.details  # same pipeline, version and experiment
    assert len([r for r in kfp_stub.requests if "/upload" in r["path"]]) == 2  # nothing uploaded again


def test_kfp_recurring_run(packages, kfp_stub):
    done = schedule_kfp(
        packages["kubeflow"],
        experiment="msm-reeval",
        name="nightly",
        cron="0 0 3 * * *",
        params={"aft_variant": "plain"},
        host=kfp_stub.url,
    )
    [body] = [json.loads(r["body"]) for r in kfp_stub.requests if r["path"] == "/apis/v2beta1/recurringruns"]
    assert body["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert body["max_concurrency"] == "1" or body["max_concurrency"] == 1
    assert body["runtime_config"]["parameters"] == {"aft_variant": "plain"}
    assert done.id == "recurring-1"
    with pytest.raises(MsmError, match="six"):
        schedule_kfp(packages["kubeflow"], experiment="x", name="n", cron="0 3 * * *", params={}, host=kfp_stub.url)


def test_kfp_missing_host_and_unreachable_host(packages, monkeypatch):
    monkeypatch.delenv("KFP_HOST", raising=False)
    with pytest.raises(MsmError, match="KFP_HOST is not set"):
        submit_kfp(packages["kubeflow"], experiment="e", run_name="r", params={})
    with pytest.raises(MsmError, match="cannot reach Kubeflow Pipelines"):
        submit_kfp(packages["kubeflow"], experiment="e", run_name="r", params={}, host="http://127.0.0.1:9")


@pytest.fixture
def vertex(monkeypatch):
    from google.cloud.aiplatform.utils import gcs_utils

    # Submission would otherwise spend minutes retrying to create the artefact bucket.
    monkeypatch.setattr(gcs_utils, "create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist", lambda **kw: None)
    stub = VertexStub()
    settings = VertexSettings(
        project="msm-proj",
        region="us-central1",
        pipeline_root="gs://msm-bucket/root",
        service_account="msm-runner@msm-proj.iam.gserviceaccount.com",
        api_endpoint=stub.url,
    )
    yield stub, settings
    stub.close()


def anonymous():
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


def test_vertex_submit_sends_the_compiled_spec(packages, vertex):
    stub, settings = vertex
    done = submit_vertex(
        packages["vertex"],
        display_name="msm-ci",
        params={"aft_variant": "plain"},
        settings=settings,
        credentials=anonymous(),
    )
    [req] = [r for r in stub.requests if r["method"] == "POST" and r["path"].endswith("/pipelineJobs")]
    assert req["path"] == "/v1/projects/msm-proj/locations/us-central1/pipelineJobs"
    body = json.loads(req["body"])
    assert body["serviceAccount"] == settings.service_account
    assert body["runtimeConfig"]["gcsOutputDirectory"] == "gs://msm-bucket/root"
    assert body["runtimeConfig"]["parameterValues"] == {"aft_variant": "plain"}
    assert body["pipelineSpec"]["pipelineInfo"]["name"] == "msm"
    assert done.id.startswith("projects/msm-proj/locations/us-central1/pipelineJobs/")


def test_vertex_schedule(packages, vertex):
    stub, settings = vertex
    done = schedule_vertex(
        packages["vertex"],
        display_name="msm-nightly",
        cron="TZ=UTC 0 3 * * *",
        params={},
        settings=settings,
        credentials=anonymous(),
    )
    [req] = [r for r in stub.requests if r["method"] == "POST" and r["path"].endswith("/schedules")]
    body = json.loads(req["body"])
    assert body["cron"] == "TZ=UTC 0 3 * * *" and body["maxConcurrentRunCount"] == "1"
    assert body["createPipelineJobRequest"]["pipelineJob"]["serviceAccount"] == settings.service_account
    assert done.id.endswith("/schedules/1")


def test_vertex_without_project_names_what_to_set(packages, monkeypatch):
    for var in ("MSM_VERTEX_PROJECT", "MSM_VERTEX_REGION", "MSM_VERTEX_PIPELINE_ROOT"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(MsmError, match="MSM_VERTEX_PROJECT is not set"):
        submit_vertex(packages["vertex"], display_name="x", params={})


def test_make_pipeline_command_reaches_kfp(kfp_stub, repo, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "KFP_HOST": kfp_stub.url, "MSM_BACKEND": "kfp"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "submit",
            "--recipe",
            "recipes/tiny-offline.yaml",
            "--spec",
            "specs/general.md",
            "--param",
            "aft_variant=plain",
            "--out",
            str(tmp_path),
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "submitted to kfp: run-1" in done.stdout
    [run] = [json.loads(r["body"]) for r in kfp_stub.requests if r["path"] == "/apis/v2beta1/runs"]
    assert run["display_name"] == "msm-general"
    assert run["runtime_config"]["parameters"] == {"aft_variant": "plain"}

    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines",
            "submit",
            "--recipe",
            "recipes/tiny-offline.yaml",
            "--param",
            "no_such=1",
            "--out",
            str(tmp_path),
        ],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "unknown pipeline parameter 'no_such'" in bad.stderr


def test_params_are_typed_by_the_compiled_spec(tmp_path):
    from kfp import compiler, dsl

    from pipelines.submit import typed_params

    @dsl.component
    def noop(flag: bool, n: int, x: float, s: str):
        pass

    @dsl.pipeline(name="typed")
    def typed(flag: bool = False, n: int = 1, x: float = 0.5, s: str = ""):
        noop(flag=flag, n=n, x=x, s=s)

    package = tmp_path / "typed.yaml"
    compiler.Compiler().compile(typed, str(package))
    assert typed_params(package, {"flag": "True", "n": "3", "x": "0.25", "s": "007"}) == {
        "flag": True,
        "n": 3,
        "x": 0.25,
        "s": "007",
    }
    with pytest.raises(MsmError, match="not a boolean"):
        typed_params(package, {"flag": "maybe"})
    with pytest.raises(MsmError, match="not a number_integer"):
        typed_params(package, {"n": "1.5"})

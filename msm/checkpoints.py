"""Released checkpoints by URI, as local model directories (the reevaluate pipeline's input).

    /path/or/file:///path      a directory (full weights or a LoRA adapter)
    hf://org/name              a Hugging Face Hub repository at `revision` (HF_TOKEN for gated ones)
    gs://bucket/prefix         every object under the prefix (Google credentials from the environment)

A checkpoint is either full weights (config.json) or a LoRA adapter (adapter_config.json) of the
recipe's base model; anything else is refused before an evaluation is spent on it.
"""

from __future__ import annotations

import time
from pathlib import Path

from msm.errors import MsmError
from msm.manifest import record_fetch
from msm.outputs import copy_files, staged_output

MARKERS = ("config.json", "adapter_config.json")


def _from_gcs(uri: str, dst: Path) -> str:
    """Download gs://bucket/prefix/** into dst; returns the objects' generations as a version string."""
    from google.cloud import storage

    bucket_name, _, prefix = uri.removeprefix("gs://").partition("/")
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    blobs = [b for b in storage.Client().list_blobs(bucket_name, prefix=prefix) if not b.name.endswith("/")]
    if not blobs:
        raise MsmError(f"{uri}: no objects under this prefix\n    fix: check the bucket and path")
    for blob in blobs:
        target = dst / blob.name[len(prefix) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(target))
    return ",".join(f"{b.name}#{b.generation}" for b in blobs)


def fetch_checkpoint(uri: str, revision: str, out_dir: Path | str) -> Path:
    """Materialise the checkpoint at `uri` in out_dir.

    A checkpoint that msm trained keeps its training manifest (its lineage and the base-model
    fingerprint that evaluation checks adapters against); where it came from goes to fetched.json.
    A foreign checkpoint gets a manifest of its own, stage 'checkpoint'.
    """
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    with staged_output(out_dir) as stage:
        if uri.startswith("hf://"):
            from msm.models.hub import snapshot

            src = snapshot(uri.removeprefix("hf://"), revision, field="checkpoint uri")
            copy_files(src, stage)
            version = src.name  # the commit the revision resolved to
        elif uri.startswith("gs://"):
            version = _from_gcs(uri, stage)
        elif "://" in uri and not uri.startswith("file://"):
            raise MsmError(f"{uri}: unsupported checkpoint URI\n    fix: use a path, file://, hf://org/name or gs://")
        else:
            src = Path(uri.removeprefix("file://"))
            if not src.is_dir():
                raise MsmError(f"{src}: checkpoint directory not found\n    fix: check the path (or use hf:// / gs://)")
            copy_files(src, stage)
            version = "local"
        if not any((stage / m).is_file() for m in MARKERS):
            raise MsmError(
                f"{uri}: neither full weights (config.json) nor a LoRA adapter (adapter_config.json)\n"
                "    fix: point at the directory that save_pretrained wrote"
            )
        kind = "adapter" if (stage / "adapter_config.json").is_file() else "full"
        record = {"uri": uri, "revision": revision, "version": version, "kind": kind}
        record_fetch(stage, {**record, "seconds": round(time.perf_counter() - t0, 3)}, "checkpoint")
    return out_dir

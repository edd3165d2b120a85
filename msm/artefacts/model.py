"""Model and adapter directories, and what a training run (`msm train ... --out`) leaves in one.

A model directory (`msm model ...`, save_pretrained, a Hub snapshot):
  config.json                    the architecture; with the weight files, the model's fingerprint
  *.safetensors | *.bin          weights (model.safetensors.index.json when sharded)
  tokenizer files

A training output directory, complete only once manifest.json exists (written last):
  adapter_config.json + adapter_model.safetensors   a LoRA adapter, or full weights as above
  merged/                        base + adapter merged (LoRA with `merge: true`)
  metrics.jsonl                  one line per optimizer step (TRAIN_METRICS_JSONL)
  run.json                       what a resume must match (its resume_key)
  checkpoints/                   DeepSpeed checkpoints while the run is unfinished; removed after the export
  manifest.json                  config.base_model_fingerprint: the base the weights belong to

Checks of the files' contents (model_type, tokenizer, safetensors headers) are msm.models.checks.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from msm.errors import InvalidInput, problem
from msm.hashing import sha256_file

CONFIG_JSON = "config.json"
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
WEIGHT_INDEX_JSON = "model.safetensors.index.json"
ADAPTER_CONFIG_JSON = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
MERGED_DIR = "merged"
CHECKPOINTS_DIR = "checkpoints"
TRAIN_RUN_JSON = "run.json"
# Not the evaluation's metrics.json (msm.artefacts.evaluation): one JSON line per training step.
TRAIN_METRICS_JSONL = "metrics.jsonl"


def is_adapter_dir(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / ADAPTER_CONFIG_JSON).is_file()


def weight_files(model_dir: Path) -> list[Path]:
    """Sorted per pattern, .safetensors first: model_fingerprint hashes them in this order."""
    return [f for pattern in WEIGHT_PATTERNS for f in sorted(Path(model_dir).glob(pattern))]


def model_fingerprint(model_dir: Path) -> str:
    """Identity of a base model: its config and the names and sizes of its weight files (not every
    byte, so a 60 GB model is fingerprinted in milliseconds)."""
    config = Path(model_dir) / CONFIG_JSON
    try:
        h = hashlib.sha256(config.read_bytes())
    except FileNotFoundError:
        raise InvalidInput(
            [
                problem(
                    model_dir,
                    f"is not a model directory (no {CONFIG_JSON})",
                    "pass a directory written by `msm model` or save_pretrained",
                )
            ]
        ) from None
    for f in weight_files(model_dir):
        h.update(f"{f.name}:{f.stat().st_size}".encode())
    return h.hexdigest()


def adapter_sha256(adapter_dir: Path) -> str:
    """Identity of a LoRA adapter: its config and weights, byte for byte (they are small)."""
    h = hashlib.sha256()
    files = sorted(Path(adapter_dir).glob(ADAPTER_CONFIG_JSON)) + sorted(Path(adapter_dir).glob("adapter_model.*"))
    for f in files:
        h.update(f"{f.name}:{sha256_file(f)}".encode())
    return h.hexdigest()

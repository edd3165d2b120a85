"""Which weights an evaluation runs: a model directory (or cached hub id) plus an optional LoRA adapter.

An adapter is accepted only from a finished training run (manifest.json) whose recorded
base_model_fingerprint matches the model given: an adapter for another base would load without
error and silently produce nonsense, so it is refused here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from msm.artefacts.model import ADAPTER_WEIGHTS, is_adapter_dir, model_fingerprint
from msm.errors import InvalidInput, problem
from msm.hashing import sha256_file
from msm.manifest import MANIFEST_NAME, load_manifest


@dataclass(frozen=True)
class ModelSource:
    model_dir: Path
    fingerprint: str
    adapter: Path | None = None
    adapter_sha256: str | None = None
    adapter_rank: int | None = None

    def record(self) -> dict:
        return {
            "model": {"path": str(self.model_dir), "fingerprint": self.fingerprint},
            "adapter": None
            if self.adapter is None
            else {"path": str(self.adapter), "sha256": self.adapter_sha256, "rank": self.adapter_rank},
        }


def resolve_source(model: str, adapter: Path | None) -> ModelSource:
    """The checked model (and adapter) to evaluate; every file is checked before any weight loads."""
    from msm.models.checks import check_adapter_dir, resolve_model_dir

    model_path = Path(model)
    if is_adapter_dir(model_path):
        raise InvalidInput(
            [
                problem(
                    model_path,
                    "is a LoRA adapter, not a model",
                    "pass the base model with --model and this directory with --adapter",
                )
            ]
        )
    if not model_path.exists() and model.startswith((".", "/", "~")):
        raise InvalidInput([problem(model, "model directory does not exist", "check --model")])
    model_dir = resolve_model_dir(model)
    fingerprint = model_fingerprint(model_dir)
    if adapter is None:
        return ModelSource(model_dir, fingerprint)
    adapter_config = check_adapter_dir(adapter)
    manifest = load_manifest(adapter)
    if manifest is None:
        raise InvalidInput(
            [
                problem(
                    adapter,
                    f"has no {MANIFEST_NAME}, so it is not a finished training run",
                    "finish the run (`msm train ... --resume auto`) or pass a finished --out directory",
                )
            ]
        )
    trained_on = manifest["config"].get("base_model_fingerprint")
    if trained_on != fingerprint:
        raise InvalidInput(
            [
                problem(
                    adapter,
                    "this adapter was trained on another base model",
                    f"pass the base model it was trained on with --model (see {adapter / MANIFEST_NAME}, "
                    "inputs.base_model.path)",
                    field="config.base_model_fingerprint",
                )
            ]
        )
    weights = adapter / ADAPTER_WEIGHTS
    rank = adapter_config.get("r")
    return ModelSource(model_dir, fingerprint, adapter, sha256_file(weights) if weights.is_file() else None, rank)

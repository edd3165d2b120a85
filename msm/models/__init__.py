"""Base models: a seeded tiny model, SmolLM2-135M-Instruct from PyPI, a Hub model, or a local directory."""

from __future__ import annotations

from pathlib import Path

from msm.artefacts.model import CONFIG_JSON
from msm.config import BaseModelConfig
from msm.errors import InvalidInput, problem


def prepare_base_model(cfg: BaseModelConfig, out_dir: Path | str, spec_files: list[Path]) -> Path:
    """The base model a recipe names, as a local HF directory; returns its path."""
    if cfg.source == "tiny":
        from msm.models.tiny import build_tiny_model

        return build_tiny_model(out_dir, seed=cfg.seed, spec_files=spec_files)
    if cfg.source == "smollm2":
        from msm.models.smollm2 import convert_smollm2

        return convert_smollm2(out_dir, dtype=cfg.dtype)
    if cfg.source == "hf":
        from msm.models.hub import fetch_hub_model

        return fetch_hub_model(cfg.id or "", cfg.revision, out_dir)
    path = Path(cfg.path or "")
    if not (path / CONFIG_JSON).is_file():
        raise InvalidInput(
            [
                problem(
                    path,
                    f"is not a Hugging Face model directory (no {CONFIG_JSON})",
                    "point base_model.path at a directory written by save_pretrained",
                    field="base_model.path",
                )
            ]
        )
    from msm.models.checks import check_model_dir

    check_model_dir(path)  # the stages after this one trust the directory: check it before they start
    return path

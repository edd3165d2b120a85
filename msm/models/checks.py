"""Checks of model and adapter directories, before any weight is loaded or any output is written.

transformers, peft and safetensors report a broken file with a traceback from deep inside, and
only once the weights load — after a training or evaluation run has already created its output
directory. These checks read only the small JSON files and the safetensors headers (an 8-byte
length, then JSON naming each tensor's byte range), so they take milliseconds even for a 60 GB
model, and every command that reads a model or adapter directory calls them first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from msm.artefacts.model import ADAPTER_CONFIG_JSON, CONFIG_JSON, WEIGHT_INDEX_JSON, weight_files
from msm.errors import InvalidInput, Problem, problem
from msm.manifest import load_manifest, read_json_object

DAMAGED = "the file is damaged (an interrupted download or copy?): copy or download it again"
# Present in every tokenizer transformers can load without remote code (fast, sentencepiece, BPE vocab).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
# Tokenizer files that are JSON; each must parse when present.
TOKENIZER_JSON = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json")


def check_safetensors(path: Path) -> None:
    """The header of a .safetensors file parses and its tensors' byte ranges fit in the file."""

    def fail(message: str, field: str | None = None) -> InvalidInput:
        return InvalidInput([problem(path, message, DAMAGED, field=field)])

    size = path.stat().st_size
    if size < 8:
        raise fail(f"truncated: {size} bytes, shorter than the 8-byte header length every safetensors file starts with")
    with open(path, "rb") as fh:
        length = int.from_bytes(fh.read(8), "little")
        if length > size - 8:
            raise fail(
                f"truncated or not safetensors: {size:,} bytes cannot hold the {length:,}-byte header it declares"
            )
        raw = fh.read(length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except ValueError:  # not UTF-8, or not JSON
        raise fail("not a safetensors file: its header is not JSON") from None
    if not isinstance(header, dict):
        raise fail("not a safetensors file: its header is not a JSON object")
    data_bytes, needed = size - 8 - length, 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (
            isinstance(offsets, list)
            and len(offsets) == 2
            and all(isinstance(o, int) for o in offsets)
            and 0 <= offsets[0] <= offsets[1]
        ):
            raise fail(f"tensor {name!r} has no valid data_offsets in the header", field=name)
        needed = max(needed, offsets[1])
    if needed > data_bytes:
        raise fail(
            f"truncated: its tensors need {needed:,} bytes of data, the file holds {data_bytes:,} "
            f"({needed - data_bytes:,} missing)"
        )


def _check_weights(path: Path, what: str) -> None:
    files = weight_files(path)
    if not files:
        raise InvalidInput(
            [problem(path, f"holds no weights (*.safetensors or *.bin): not a complete {what}", "copy it again whole")]
        )
    index = path / WEIGHT_INDEX_JSON
    if index.is_file():  # sharded weights: every shard the index names must be here
        weight_map = read_json_object(index, DAMAGED).get("weight_map")
        if not isinstance(weight_map, dict):
            raise InvalidInput(
                [problem(index, "`weight_map` is missing or not an object", DAMAGED, field="weight_map")]
            )
        missing = sorted({str(f) for f in weight_map.values()} - {f.name for f in files})
        if missing:
            raise InvalidInput(
                [problem(index, f"names shard(s) that are not in the directory: {', '.join(missing)}", DAMAGED)]
            )
    for f in files:
        if f.suffix == ".safetensors":
            check_safetensors(f)


def _check_tokenizer(path: Path, *, required: bool) -> None:
    if required and not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise InvalidInput(
            [
                problem(
                    path,
                    f"holds no tokenizer (none of {', '.join(TOKENIZER_FILES)})",
                    "save the tokenizer beside the weights (tokenizer.save_pretrained(dir)), or use `msm model`",
                )
            ]
        )
    for name in TOKENIZER_JSON:
        if (path / name).is_file():
            read_json_object(path / name, "copy the tokenizer files again (tokenizer.save_pretrained)")


def model_config(path: Path) -> dict[str, Any]:
    """config.json of a model directory, with a `model_type` this transformers knows."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    file = path / CONFIG_JSON
    fix = "point at a directory written by save_pretrained or `msm model` (its config.json is JSON with model_type)"
    config = read_json_object(file, fix)
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise InvalidInput([problem(file, "has no `model_type`", fix, field="model_type")])
    if model_type not in CONFIG_MAPPING_NAMES:  # msm never runs remote code, so only built-in types load
        raise InvalidInput(
            [
                problem(
                    file,
                    f"model_type {model_type!r} is unknown to the installed transformers",
                    "use a model of a type transformers supports, or upgrade transformers",
                    field="model_type",
                )
            ]
        )
    return config


def check_model_dir(path: Path) -> None:
    """A base model directory: config.json, tokenizer, weight headers and (if any) msm manifest."""
    path = Path(path)
    if not (path / CONFIG_JSON).is_file():
        raise InvalidInput(
            [
                problem(
                    path,
                    f"is not a model directory (no {CONFIG_JSON})",
                    "pass a directory written by `msm model` or save_pretrained",
                )
            ]
        )
    model_config(path)
    _check_tokenizer(path, required=True)
    _check_weights(path, "model")
    load_manifest(path)


def check_adapter_dir(path: Path) -> dict[str, Any]:
    """A LoRA adapter directory (a training run's --out); returns its adapter_config.json."""
    path = Path(path)
    file = path / ADAPTER_CONFIG_JSON
    if not path.is_dir():
        raise InvalidInput([problem(path, "adapter directory does not exist", "check --adapter")])
    if not file.is_file():
        raise InvalidInput(
            [
                problem(
                    path,
                    f"holds no LoRA adapter ({ADAPTER_CONFIG_JSON})",
                    "pass the --out directory of a LoRA `msm train` run",
                )
            ]
        )
    fix = "pass the --out directory of a finished LoRA `msm train` run; train again if it was edited"
    config = read_json_object(file, fix)
    problems: list[Problem] = []
    if not isinstance(config.get("peft_type"), str):
        problems.append(problem(file, "has no `peft_type`", fix, field="peft_type"))
    if "r" in config and not (isinstance(config["r"], int) and config["r"] > 0):
        problems.append(problem(file, f"`r` is {config['r']!r}, not a positive integer", fix, field="r"))
    if problems:
        raise InvalidInput(problems)
    _check_tokenizer(path, required=False)  # an adapter's own tokenizer is optional; when present it is used
    _check_weights(path, "adapter")
    load_manifest(path)
    return config


def resolve_model_dir(model: str) -> Path:
    """The checked model directory a --base-model/--model names: a local directory, or a hub id already
    in the Hugging Face cache (nothing is downloaded at run time)."""
    path = Path(model)
    if path.is_dir():
        check_model_dir(path)
        return path
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise InvalidInput([problem(model, "base model directory does not exist", "check --base-model")])
    from huggingface_hub import snapshot_download

    try:
        cached = Path(snapshot_download(model, local_files_only=True))
    except Exception:
        raise InvalidInput(
            [
                problem(
                    model,
                    "not a local directory and not in the Hugging Face cache",
                    "pass a model directory (e.g. from `msm model smollm2`) or pre-fetch the hub id",
                )
            ]
        ) from None
    check_model_dir(cached)
    return cached

"""Instruction-tuning (IT) chats to mix into AFT data: the baseline arm trains on them alone.

`read_instruction_chats(cfg)` reads and checks one of the three sources of a recipe's
`synthesis.aft.instruction_mix` (the AFT stage does so before its first generator call), and
`.draw(count, seed)` picks the chats to mix in:

    instruction_mix: {path: data/it.jsonl, ratio: 1.0}                     # .jsonl, .parquet, save_to_disk dir
    instruction_mix: {dataset: HuggingFaceH4/no_robots, revision: <sha>, ratio: 1.0}   # datasets.load_dataset
    instruction_mix: {builtin: instruction-chats, ratio: 1.0}              # msm's own chats (data/)

Rows become chat `messages`: either they already have `messages` (role/content), or a prompt/response
pair under one of the common column names below. Placeholders ({model_name}, {provider_name}) in
the builtin chats are returned as they are; the caller renders them with the recipe's identity.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from msm.config.synthesis import InstructionMix
from msm.errors import InvalidInput, problem
from msm.rows import ROW_SUFFIXES, read_row_file

PAIR_COLUMNS = (("prompt", "response"), ("instruction", "output"), ("question", "answer"), ("input", "output"))
FIELD = "synthesis.aft.instruction_mix"
BUILTIN_FILES = {"instruction-chats": "instruction_chats.jsonl"}  # the keys are InstructionMix.builtin's values

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class InstructionChats:
    chats: list[Messages]
    digest: str  # sha256 of the chats drawn, in order: a cache key that does not depend on where they came from
    source: dict[str, str]  # what was read, for manifests


def _bad(where: Path | str, field: str, message: str, fix: str) -> InvalidInput:
    return InvalidInput([problem(where, message, fix, field=f"{FIELD}.{field}")])


def builtin_path(name: str) -> Path:
    return Path(str(resources.files("msm.synthesis").joinpath("data", BUILTIN_FILES[name])))


def _read_path(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise _bad(path, "path", "does not exist", "point instruction_mix.path at a local file or directory")
    if path.is_dir():
        import datasets

        try:
            ds = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as e:
            raise _bad(
                path,
                "path",
                f"not a dataset saved by `datasets`: {e}",
                "pass a .jsonl, a .parquet or a save_to_disk directory",
            ) from None
        if isinstance(ds, datasets.DatasetDict):
            ds = ds["train"] if "train" in ds else next(iter(ds.values()))
        return list(ds)
    if path.suffix in ROW_SUFFIXES:
        return read_row_file(path)
    raise _bad(path, "path", "unsupported instruction data", "use a .jsonl or .parquet file or a `datasets` directory")


def _read_dataset(cfg: InstructionMix) -> list[dict[str, Any]]:
    import datasets

    where = f"{cfg.dataset}@{cfg.revision}"
    try:
        # Every split of a configuration is prepared whatever `split` asks for, so asking for all costs
        # nothing more and lets a wrong split name be reported with the ones that exist.
        splits = datasets.load_dataset(cfg.dataset, cfg.config_name, revision=cfg.revision)
    except FileNotFoundError as e:  # DatasetNotFoundError too: no such repository, revision or directory
        raise _bad(where, "dataset", f"cannot be loaded: {e}", "check the dataset id and its revision") from None
    except ConnectionError as e:  # offline (HF_DATASETS_OFFLINE) and not in the local cache
        raise _bad(
            where,
            "dataset",
            f"not reachable: {e}",
            "load it once with network access, or use `path:` with a local copy",
        ) from None
    except ValueError as e:  # datasets' message names the configurations there are
        raise _bad(where, "config_name", str(e), "set config_name to one of the dataset's configurations") from None
    split = cfg.split or "train"
    if split not in splits:
        raise _bad(where, "split", f"no split {split!r} (there are: {', '.join(splits)})", "set split to one of them")
    return list(splits[split])


def _source(cfg: InstructionMix) -> tuple[dict[str, str], Path | str, list[dict[str, Any]]]:
    if cfg.dataset is not None:
        described = {"dataset": cfg.dataset, "revision": str(cfg.revision), "split": cfg.split or "train"}
        if cfg.config_name:
            described["config_name"] = cfg.config_name
        return described, f"{cfg.dataset}@{cfg.revision}", _read_dataset(cfg)
    if cfg.builtin is not None:
        return {"builtin": cfg.builtin}, builtin_path(cfg.builtin), read_row_file(builtin_path(cfg.builtin))
    path = Path(str(cfg.path))
    return {"path": str(path)}, path, _read_path(path)


def to_messages(row: dict[str, Any]) -> Messages | None:
    if isinstance(row.get("messages"), list):
        msgs = [{"role": str(m["role"]), "content": str(m["content"])} for m in row["messages"] if "role" in m]
        return msgs if any(m["role"] == "assistant" for m in msgs) else None
    for q, a in PAIR_COLUMNS:
        if row.get(q) and row.get(a):
            return [{"role": "user", "content": str(row[q])}, {"role": "assistant", "content": str(row[a])}]
    return None


@dataclass(frozen=True)
class InstructionPool:
    """Every usable chat of the source, read and checked before the stage makes any paid call."""

    chats: list[Messages]
    source: dict[str, str]

    def draw(self, count: int, seed: int) -> InstructionChats:
        """`count` chats drawn without replacement with `seed` (all of them, shuffled, if there are fewer)."""
        picked = random.Random(seed).sample(self.chats, k=min(count, len(self.chats)))
        digest = hashlib.sha256(json.dumps(picked, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        return InstructionChats(chats=picked, digest=digest, source=self.source)


def read_instruction_chats(cfg: InstructionMix) -> InstructionPool:
    """The source's usable chats; a missing source or one without usable rows is refused here."""
    source, where, rows = _source(cfg)
    chats = [m for m in map(to_messages, rows) if m]
    if not chats:
        field = next(name for name in ("dataset", "builtin", "path") if getattr(cfg, name) is not None)
        raise _bad(where, field, "no usable rows", f"rows need `messages` or one of the column pairs {PAIR_COLUMNS}")
    return InstructionPool(chats=chats, source=source)


def load_instruction_chats(cfg: InstructionMix, count: int, seed: int) -> InstructionChats:
    """`count` chats drawn with `seed` from the source (read_instruction_chats, then draw)."""
    return read_instruction_chats(cfg).draw(count, seed)

"""Instruction-tuning rows to mix into AFT data, from local files only (no hub at run time).

Accepts a .jsonl file, a .parquet file, or a directory written by `datasets.save_to_disk`. Rows
become chat `messages`: either they already have `messages` (role/content), or a prompt/response
pair under one of the common column names below.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from msm.errors import InvalidInput, problem
from msm.rows import ROW_SUFFIXES, read_row_file

PAIR_COLUMNS = (("prompt", "response"), ("instruction", "output"), ("question", "answer"), ("input", "output"))
FIELD = "synthesis.aft.instruction_mix.path"


def _bad(path: Path, message: str, fix: str) -> InvalidInput:
    return InvalidInput([problem(path, message, fix, field=FIELD)])


def _read(path: Path) -> list[dict[str, Any]]:
    if path.is_dir():
        import datasets

        try:
            ds = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as e:
            raise _bad(
                path, f"not a dataset saved by `datasets`: {e}", "pass a .jsonl, a .parquet or a save_to_disk directory"
            ) from None
        if isinstance(ds, datasets.DatasetDict):
            ds = ds["train"] if "train" in ds else next(iter(ds.values()))
        return list(ds)
    if path.suffix in ROW_SUFFIXES:
        return read_row_file(path)
    raise _bad(path, "unsupported instruction data", "use a .jsonl or .parquet file or a `datasets` directory")


def to_messages(row: dict[str, Any]) -> list[dict[str, str]] | None:
    if isinstance(row.get("messages"), list):
        msgs = [{"role": str(m["role"]), "content": str(m["content"])} for m in row["messages"] if "role" in m]
        return msgs if any(m["role"] == "assistant" for m in msgs) else None
    for q, a in PAIR_COLUMNS:
        if row.get(q) and row.get(a):
            return [{"role": "user", "content": str(row[q])}, {"role": "assistant", "content": str(row[a])}]
    return None


def load_instruction_mix(path: Path | str, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` rows drawn without replacement with `seed` (all rows, shuffled, if there are fewer)."""
    path = Path(path)
    if not path.exists():
        raise _bad(path, "does not exist", "point instruction_mix.path at a local file or directory")
    rows = [m for m in (to_messages(r) for r in _read(path)) if m]
    if not rows:
        raise _bad(path, "no usable rows", f"rows need `messages` or one of the column pairs {PAIR_COLUMNS}")
    rng = random.Random(seed)
    picked = rng.sample(rows, k=min(count, len(rows)))
    return [{"messages": m, "source": "instruction"} for m in picked]

"""Reading row files (jsonl, parquet): the one reader every stage uses for datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from msm.errors import InvalidInput, problem

ROW_SUFFIXES = (".jsonl", ".parquet")


def read_row_file(path: Path) -> list[dict[str, Any]]:
    """All rows of one .jsonl or .parquet file; a malformed line is an error naming file and line."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    if path.suffix != ".jsonl":
        raise InvalidInput([problem(path, f"unsupported row file type '{path.suffix}'", "use .jsonl or .parquet")])
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise InvalidInput(
                    [problem(path, f"invalid JSON: {e.msg}", "one JSON object per line; fix or regenerate", line=n)]
                ) from None
    return rows

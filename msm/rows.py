"""Reading row files (jsonl, parquet): the one reader every stage uses for datasets.

Every row is a JSON object (a dict). Problems name the file and the line (jsonl) or the row
(parquet, 1-based), so that a user can open the file at the right place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from msm.errors import InvalidInput, Problem, problem

ROW_SUFFIXES = (".jsonl", ".parquet")


def row_problem(path: Path, number: int, message: str, fix: str, *, field: str | None = None) -> Problem:
    """A problem at row `number` of a row file: a line for jsonl, a row index for parquet."""
    if path.suffix == ".jsonl":
        return problem(path, message, fix, line=number, field=field)
    return problem(path, f"row {number}: {message}", fix, field=field)


def _parquet_rows(path: Path) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as e:  # truncated or not parquet at all
        raise InvalidInput(
            [problem(path, f"not a readable parquet file: {e}", "regenerate the file or convert it to .jsonl")]
        ) from None


def _jsonl_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    fix = "one JSON object per line, UTF-8; fix or regenerate the file"
    rows = []
    # Bytes, decoded line by line: a file in another encoding (Latin-1, UTF-16) is named with its line.
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InvalidInput(
                    [
                        row_problem(
                            path,
                            n,
                            f"not UTF-8 (byte {raw[e.start]:#04x} at column {e.start + 1}); "
                            "the file was saved in another encoding (Latin-1? UTF-16?)",
                            "re-save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
                        )
                    ]
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInput([row_problem(path, n, f"invalid JSON: {e.msg} (column {e.colno})", fix)]) from None
            if not isinstance(row, dict):
                raise InvalidInput(
                    [row_problem(path, n, f"a row is a JSON object ({{...}}), got a {type(row).__name__}", fix)]
                )
            rows.append((n, row))
    return rows


def numbered_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line or row number, row) for each row of one .jsonl or .parquet file."""
    path = Path(path)
    if path.suffix == ".parquet":
        return list(enumerate(_parquet_rows(path), 1))
    if path.suffix != ".jsonl":
        raise InvalidInput([problem(path, f"unsupported row file type '{path.suffix}'", "use .jsonl or .parquet")])
    return _jsonl_rows(path)


def read_row_file(path: Path) -> list[dict[str, Any]]:
    """All rows of one .jsonl or .parquet file; a malformed line is an error naming file and line."""
    return [row for _, row in numbered_rows(path)]

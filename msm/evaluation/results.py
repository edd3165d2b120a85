"""Per-sample results, appended as they complete: what makes a killed evaluation resumable.

Each line is one finished sample (or one judgment), flushed and fsynced before the next batch
starts, so a kill loses at most the batch in flight. A torn last line (killed mid-write: any cut
of a file that ends without a newline) is dropped, and that sample is simply redone. Lines are
written whole, so anything else that does not read back as a record (a line in the middle that is
not JSON, a record without a key, bytes that are not UTF-8) means the file is not what msm wrote:
it is refused, naming the line, before the run writes anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from msm.errors import InvalidInput, problem

FIX = (
    "restore this file, or delete it to redo this suite's samples (or start over with a new --out); "
    "msm appends whole lines, so only a torn last line comes from a killed run"
)


class SampleLog:
    def __init__(self, path: Path):
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        # Where a torn last line starts: cut there before the next append (not now: reading the log
        # must leave it as it is, in case another file of the run is refused).
        self._torn_at: int | None = None
        if not path.is_file():
            return
        data = path.read_bytes()
        whole = data.rfind(b"\n") + 1
        if whole < len(data):
            self._torn_at = whole
        for n, line in enumerate(data[:whole].splitlines(), 1):
            try:
                record = json.loads(line)
            except ValueError as e:  # not JSON, or not UTF-8
                raise InvalidInput([problem(path, f"line is not a JSON record ({e})", FIX, line=n)]) from None
            if not isinstance(record, dict) or not isinstance(record.get("key"), str):
                raise InvalidInput([problem(path, "line is not a sample record (no string `key`)", FIX, line=n)])
            self.records[record["key"]] = record

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def append(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._torn_at is not None:  # or the first new line would fuse with the torn one
            os.truncate(self.path, self._torn_at)
            self._torn_at = None
        with open(self.path, "a", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        for r in records:
            self.records[r["key"]] = r

    def values(self) -> list[dict[str, Any]]:
        return list(self.records.values())

"""Per-sample results, appended as they complete: what makes a killed evaluation resumable.

Each line is one finished sample (or one judgment), flushed and fsynced before the next batch
starts, so a kill loses at most the batch in flight. A torn last line (killed mid-write) is
dropped on reading and that sample is simply redone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class SampleLog:
    def __init__(self, path: Path):
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            if text and not text.endswith("\n"):  # torn by a kill: cut it, or the next append would fuse with it
                text = text[: text.rfind("\n") + 1]
                path.write_text(text, encoding="utf-8")
            for line in text.splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a kill; its sample is not done
                self.records[record["key"]] = record

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def append(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            for r in records:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        for r in records:
            self.records[r["key"]] = r

    def values(self) -> list[dict[str, Any]]:
        return list(self.records.values())

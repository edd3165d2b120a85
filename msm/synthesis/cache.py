"""Persistent response cache: what makes a rerun after kill -9 repeat no answered call.

Every successful reply is committed to SQLite (WAL) the moment it arrives, keyed by
(backend, model, messages, sampling params, sample index). A rerun of the same command rebuilds
the same prompts from cached replies, level by level, and asks the API only for what is missing.
Only replies are stored, never credentials.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
    key TEXT PRIMARY KEY,
    level TEXT NOT NULL,
    text TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    created REAL NOT NULL
)
"""


def request_key(
    *, backend: str, model: str, messages: tuple[Mapping[str, str], ...], params: Mapping[str, Any], sample: int
) -> str:
    payload = {
        "backend": backend,
        "model": model,
        "messages": [dict(m) for m in messages],
        "params": dict(params),
        "sample": sample,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class CachedReply:
    text: str
    input_tokens: int
    output_tokens: int
    cost_usd: float


class ReplyCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # autocommit: each insert is durable on its own, so a kill loses at most the replies in flight
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # survives a killed process; an OS crash may lose the tail
        self._db.execute(SCHEMA)

    def get(self, key: str) -> CachedReply | None:
        row = self._db.execute(
            "SELECT text, input_tokens, output_tokens, cost_usd FROM replies WHERE key = ?", (key,)
        ).fetchone()
        return CachedReply(*row) if row else None

    def put(self, key: str, level: str, reply: CachedReply) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO replies VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, level, reply.text, reply.input_tokens, reply.output_tokens, reply.cost_usd, time.time()),
        )

    def spent(self) -> tuple[int, float]:
        """(tokens, dollars) paid for by every reply in the cache, from all runs."""
        tokens, dollars = self._db.execute(
            "SELECT COALESCE(SUM(input_tokens + output_tokens), 0), COALESCE(SUM(cost_usd), 0) FROM replies"
        ).fetchone()
        return int(tokens), float(dollars)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        self._db.close()

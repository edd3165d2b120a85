"""Persistent response cache: what makes a rerun after kill -9 repeat no answered call.

Every successful reply is committed to SQLite (WAL) the moment it arrives, keyed by
(backend, model, messages, sampling params, sample index). A rerun of the same command rebuilds
the same prompts from cached replies, level by level, and asks the API only for what is missing.
Only replies are stored, never credentials. A file at the cache path that is not such a cache (another
SQLite database, a text file, a copy cut short) is refused before anything is written to it.
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

from msm.errors import InvalidInput, problem

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


COLUMNS = ("key", "level", "text", "input_tokens", "output_tokens", "cost_usd", "created")


def request_key(
    *,
    backend: str,
    model: str,
    messages: tuple[Mapping[str, str], ...],
    params: Mapping[str, Any],
    sample: int,
    revision: str = "",
) -> str:
    """Everything that decides a reply: who answers (backend, model and, for code that answers, its
    revision), the full prompt, the sampling parameters and the sample index. Nothing about how the
    call is made (concurrency, rate limits, retries, timeouts, base URL) is part of it."""
    payload: dict[str, Any] = {
        "backend": backend,
        "model": model,
        "messages": [dict(m) for m in messages],
        "params": dict(params),
        "sample": sample,
    }
    if revision:  # only set by the offline backend: keys of API models stay what they were, caches stay valid
        payload["revision"] = revision
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class CachedReply:
    text: str
    input_tokens: int
    output_tokens: int
    cost_usd: float


def _foreign(path: Path, message: str) -> InvalidInput:
    return InvalidInput(
        [
            problem(
                path,
                f"is not an msm reply cache: {message}",
                "use another cache path (msm synthesize: --cache), or move this file away; a damaged msm "
                "cache may be deleted: the rerun then asks again only for the replies it held",
            )
        ]
    )


def check_cache_file(db: sqlite3.Connection, path: Path) -> None:
    """Refuse a file that is not a reply cache, before the cache writes anything into it."""
    try:
        # quick_check reads every page, so a copy cut short fails here rather than mid-run
        damage = db.execute("PRAGMA quick_check(1)").fetchone()[0]
        tables = {
            n
            for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not n.startswith("sqlite_")
        }
        columns = tuple(r[1] for r in db.execute("PRAGMA table_info(replies)"))
    except sqlite3.DatabaseError as e:  # "file is not a database", "database disk image is malformed"
        raise _foreign(path, f"SQLite cannot read it ({e})") from None
    if damage != "ok":
        raise _foreign(path, f"the database is damaged ({damage})")
    if tables - {"replies"}:
        raise _foreign(path, f"it holds other tables ({', '.join(sorted(tables - {'replies'}))})")
    if tables and columns != COLUMNS:
        raise _foreign(path, f"its `replies` table has the columns ({', '.join(columns)})")


class ReplyCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # autocommit: each insert is durable on its own, so a kill loses at most the replies in flight
        try:
            self._db = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as e:  # a directory at that path, no permission
            raise InvalidInput(
                [problem(path, f"cannot open the reply cache ({e})", "pass a --cache file path you can write")]
            ) from None
        try:
            check_cache_file(self._db, path)
        except InvalidInput:
            self._db.close()
            raise
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

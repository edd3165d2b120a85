"""Persistent response cache: what makes a rerun after kill -9 repeat no answered call.

Every successful reply is committed to SQLite (WAL) the moment it arrives, keyed by
(backend, model, messages, sampling params, sample index). A rerun of the same command rebuilds
the same prompts from cached replies, level by level, and asks the API only for what is missing.
In batch mode (batching.py) a job's keys are committed under an intent (`intent:<tag>`) before it is
submitted, and under the provider's job id the moment the provider accepts it; a rerun polls those
jobs instead of sending their requests again, and looks up an intent's job at the provider (a kill
between the provider accepting it and the id being stored must not pay for it twice). Each reply records its
usage as billed (input, cached input, cache writes, output, batch or online) and what it cost.
Only replies are stored, never credentials. A file at the cache path that is not such a cache (another
SQLite database, a text file, a copy cut short) is refused before anything is written to it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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
    created REAL NOT NULL,
    cached_input_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    batch INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS batch_jobs (
    job_id TEXT PRIMARY KEY,
    submitted REAL NOT NULL,
    open INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS batch_requests (
    job_id TEXT NOT NULL,
    key TEXT NOT NULL,
    level TEXT NOT NULL,
    PRIMARY KEY (job_id, key)
);
CREATE INDEX IF NOT EXISTS batch_requests_key ON batch_requests (key);
"""

# Caches written before batch mode have the first seven columns only; they gain the usage columns
# (all zero, online) when opened, so their replies stay valid.
LEGACY_COLUMNS = ("key", "level", "text", "input_tokens", "output_tokens", "cost_usd", "created")
COLUMNS = (*LEGACY_COLUMNS, "cached_input_tokens", "cache_write_tokens", "batch")
TABLES = {"replies", "batch_jobs", "batch_requests"}
INTENT_PREFIX = "intent:"  # a batch_jobs row for a job not yet known to be accepted (see add_intent)


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
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    batch: bool = False


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
    if tables - TABLES:
        raise _foreign(path, f"it holds other tables ({', '.join(sorted(tables - TABLES))})")
    if tables and columns not in (COLUMNS, LEGACY_COLUMNS):
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
        if tuple(r[1] for r in self._db.execute("PRAGMA table_info(replies)")) == LEGACY_COLUMNS:
            for column in COLUMNS[len(LEGACY_COLUMNS) :]:
                self._db.execute(f"ALTER TABLE replies ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
        self._db.executescript(SCHEMA)

    def get(self, key: str) -> CachedReply | None:
        row = self._db.execute(
            "SELECT text, input_tokens, output_tokens, cost_usd, cached_input_tokens, cache_write_tokens, batch "
            "FROM replies WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        text, input_tokens, output_tokens, cost, cached, written, batch = row
        return CachedReply(text, input_tokens, output_tokens, cost, cached, written, batch=bool(batch))

    def put(self, key: str, level: str, reply: CachedReply) -> None:
        self.put_many([(key, level, reply)])

    def put_many(self, replies: list[tuple[str, str, CachedReply]]) -> None:
        """Store replies in one transaction (a batch job's results arrive by the thousand)."""
        now = time.time()
        with self._transaction():
            self._db.executemany(
                f"INSERT OR IGNORE INTO replies ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                [
                    (
                        key,
                        level,
                        r.text,
                        r.input_tokens,
                        r.output_tokens,
                        r.cost_usd,
                        now,
                        r.cached_input_tokens,
                        r.cache_write_tokens,
                        int(r.batch),
                    )
                    for key, level, r in replies
                ],
            )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Everything inside is committed at once, or nothing (a kill mid-way leaves no half job)."""
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def add_job(self, job_id: str, requests: list[tuple[str, str]]) -> None:
        """Record a job the provider accepted and the (key, level) of every request in it, atomically."""
        with self._transaction():
            self._db.execute("INSERT INTO batch_jobs (job_id, submitted) VALUES (?, ?)", (job_id, time.time()))
            self._db.executemany(
                "INSERT INTO batch_requests VALUES (?, ?, ?)", [(job_id, key, level) for key, level in requests]
            )

    def add_intent(self, requests: list[tuple[str, str]]) -> str:
        """Record a job about to be submitted (before the provider sees it); returns its intent id."""
        intent = INTENT_PREFIX + uuid.uuid4().hex
        self.add_job(intent, requests)
        return intent

    def resolve_intent(self, intent: str, job_id: str | None) -> None:
        """The intent's job is `job_id` at the provider (its requests move to it), or None: it never
        reached the provider, and its requests are free to be sent."""
        with self._transaction():
            if job_id is not None:
                self._db.execute(
                    "INSERT INTO batch_jobs (job_id, submitted) SELECT ?, submitted FROM batch_jobs WHERE job_id = ?",
                    (job_id, intent),
                )
                self._db.execute("UPDATE batch_requests SET job_id = ? WHERE job_id = ?", (job_id, intent))
            else:
                self._db.execute("DELETE FROM batch_requests WHERE job_id = ?", (intent,))
            self._db.execute("DELETE FROM batch_jobs WHERE job_id = ?", (intent,))

    def submitted_at(self, job_id: str) -> float:
        """When a job (or an intent) was recorded: epoch seconds."""
        return float(self._db.execute("SELECT submitted FROM batch_jobs WHERE job_id = ?", (job_id,)).fetchone()[0])

    def job_ids(self) -> set[str]:
        """Every job this cache has recorded, open or collected (not intents)."""
        return {j for (j,) in self._db.execute("SELECT job_id FROM batch_jobs") if not j.startswith(INTENT_PREFIX)}

    def open_job_of(self, key: str) -> str | None:
        """The job still to be collected that carries `key`, if any."""
        row = self._db.execute(
            "SELECT r.job_id FROM batch_requests r JOIN batch_jobs j USING (job_id) WHERE r.key = ? AND j.open = 1",
            (key,),
        ).fetchone()
        return row[0] if row else None

    def job_requests(self, job_id: str) -> dict[str, str]:
        """key → level of every request in a job."""
        return dict(self._db.execute("SELECT key, level FROM batch_requests WHERE job_id = ?", (job_id,)))

    def open_jobs(self) -> list[str]:
        return [j for (j,) in self._db.execute("SELECT job_id FROM batch_jobs WHERE open = 1 ORDER BY submitted")]

    def close_job(self, job_id: str) -> None:
        """The job's results are collected (its replies stored): it is never polled again."""
        self._db.execute("UPDATE batch_jobs SET open = 0 WHERE job_id = ?", (job_id,))

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

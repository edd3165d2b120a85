"""A real HTTP server on 127.0.0.1 that speaks both providers' batch APIs, their online endpoints
and their model lookups, with prompt caching and injected faults.

- OpenAI: POST /v1/files (multipart), POST /v1/batches (metadata kept), GET /v1/batches[/{id}],
  GET /v1/files/{id}/content, POST /v1/chat/completions, GET /v1/models/{id}.
- Anthropic: POST /v1/messages/batches, GET /v1/messages/batches[/{id}],
  GET /v1/messages/batches/{id}/results, POST /v1/messages, GET /v1/models/{id}.

Replies come from tests/synthesis/fake_openai_server.reply_for seeded by the request key (the
`custom_id` of a batch line, the X-MSM-Request-Key header online), so a request is answered the same
way every time. A job ends `job_s` seconds after it was created. Prompt caching: a system prompt of
at least 1,024 tokens (4 characters each) is served from the cache once it was seen (Anthropic: once
sent with cache_control, which reports the write). The server keeps the ledger the tests check: every
request in every job created, and every reply billed.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import random
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "synthesis"))
from fake_openai_server import reply_for

MIN_CACHED = 1024


@dataclass
class BatchFaults:
    job_s: float = 0.3  # a job ends this long after it was created
    rate_5xx: float = 0.0  # any batch endpoint call (submit, poll, results) answers 500
    request_error_rate: float = 0.0  # a request inside a job errors (server fault: retryable)
    refuse_marker: str = ""  # a request whose prompt contains this is refused (invalid request)
    expire_jobs: int = 0  # the first N jobs expire with half their requests unprocessed
    context_tokens: int = 131072  # reported by GET /v1/models/{id} (as vLLM does: max_model_len)
    known_models: tuple[str, ...] = ()  # empty: every model exists
    # Job creation answers this late: the job exists at once, its id reaches the client only then
    # (a kill, or a client timeout, in between is the window batch_api.find closes).
    submit_stall_s: float = 0.0


@dataclass
class Job:
    id: str
    provider: str
    lines: list[dict[str, Any]]
    created: float
    expire: bool
    results: list[dict[str, Any]] | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Ledger:
    submitted: Counter[str] = field(default_factory=Counter)  # custom_id -> jobs that carried it
    billed: Counter[str] = field(default_factory=Counter)  # request key -> replies generated for it
    online: Counter[str] = field(default_factory=Counter)  # request key -> online replies
    jobs: list[str] = field(default_factory=list)
    batch_5xx: int = 0


def _tokens(text: str) -> int:
    return len(text) // 4


class FakeBatchServer:
    def __init__(self, faults: BatchFaults | None = None, seed: int = 0):
        self.faults = faults or BatchFaults()
        self.ledger = Ledger()
        self.jobs: dict[str, Job] = {}
        self.files: dict[str, bytes] = {}
        self._seen_prefixes: set[str] = set()
        self._lock = threading.RLock()  # _ended computes results (which bill) under it
        self._rng = random.Random(seed)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                server._route(self, "GET")

            def do_POST(self) -> None:
                server._route(self, "POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.root = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeBatchServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- the model: replies, usage, prompt caching ---------------------------------------------

    def _answer(self, key: str, body: dict[str, Any], anthropic: bool) -> dict[str, Any]:
        system_blocks = body.get("system") or []
        if anthropic:
            system = (
                "".join(b.get("text", "") for b in system_blocks) if isinstance(system_blocks, list) else system_blocks
            )
            marked = isinstance(system_blocks, list) and any(b.get("cache_control") for b in system_blocks)
            messages = (
                [{"role": "system", "content": system}, *body.get("messages", [])] if system else body["messages"]
            )
        else:
            messages = body.get("messages", [])
            system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
            marked = True  # OpenAI caches long prefixes by itself
        text = reply_for(messages, random.Random(key))
        total_in = sum(_tokens(str(m.get("content", ""))) for m in messages)
        prefix = _tokens(system)
        with self._lock:
            self.ledger.billed[key] += 1
            hit = prefix >= MIN_CACHED and system in self._seen_prefixes
            write = prefix >= MIN_CACHED and not hit and marked
            if write:
                self._seen_prefixes.add(system)
        if anthropic:
            return {
                "id": f"msg_{uuid.uuid4().hex[:12]}",
                "type": "message",
                "role": "assistant",
                "model": body.get("model"),
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {
                    "input_tokens": total_in - (prefix if hit or write else 0),
                    "cache_read_input_tokens": prefix if hit else 0,
                    "cache_creation_input_tokens": prefix if write else 0,
                    "output_tokens": _tokens(text),
                },
            }
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": total_in,
                "completion_tokens": _tokens(text),
                "total_tokens": total_in + _tokens(text),
                "prompt_tokens_details": {"cached_tokens": prefix if hit else 0},
            },
        }

    # --- jobs ----------------------------------------------------------------------------------

    def _create(self, provider: str, lines: list[dict[str, Any]], metadata: dict[str, str] | None = None) -> Job:
        with self._lock:
            expire = len(self.ledger.jobs) < self.faults.expire_jobs
            job = Job(
                f"{'batch' if provider == 'openai' else 'msgbatch'}_{uuid.uuid4().hex[:16]}",
                provider,
                lines,
                time.time(),
                expire,
                metadata=metadata or {},
            )
            self.jobs[job.id] = job
            self.ledger.jobs.append(job.id)
            for line in lines:
                self.ledger.submitted[line["custom_id"]] += 1
        return job

    def _ended(self, job: Job) -> bool:
        if time.time() < job.created + self.faults.job_s:
            return False
        with self._lock:  # computed once, by the first poll after the job's time is up
            if job.results is None:
                job.results = [self._result(job, i, line) for i, line in enumerate(job.lines)]
        return True

    def _result(self, job: Job, index: int, line: dict[str, Any]) -> dict[str, Any]:
        key = line["custom_id"]
        anthropic = job.provider == "anthropic"
        body = line["params"] if anthropic else line["body"]
        if job.expire and index % 2:
            kind = "expired"
        elif self.faults.refuse_marker and self.faults.refuse_marker in json.dumps(body):
            kind = "refused"
        elif self._rng.random() < self.faults.request_error_rate:
            kind = "error"
        else:
            kind = "ok"
        if anthropic:
            if kind == "ok":
                return {"custom_id": key, "result": {"type": "succeeded", "message": self._answer(key, body, True)}}
            if kind == "expired":
                return {"custom_id": key, "result": {"type": "expired"}}
            error_type = "invalid_request_error" if kind == "refused" else "api_error"
            error = {"type": "error", "error": {"type": error_type, "message": f"injected {kind}"}}
            return {"custom_id": key, "result": {"type": "errored", "error": error}}
        if kind == "ok":
            response = {"status_code": 200, "request_id": "req", "body": self._answer(key, body, False)}
            return {"id": "r", "custom_id": key, "response": response, "error": None}
        if kind == "expired":
            return {
                "id": "r",
                "custom_id": key,
                "response": None,
                "error": {"code": "batch_expired", "message": "expired"},
            }
        status = 400 if kind == "refused" else 500
        error_body = {"error": {"message": f"injected {kind}", "type": "injected", "code": None}}
        return {"id": "r", "custom_id": key, "response": {"status_code": status, "body": error_body}, "error": None}

    def _openai_batch(self, job: Job) -> dict[str, Any]:
        ended = self._ended(job)
        results = job.results or []
        ok = [r for r in results if (r.get("response") or {}).get("status_code") == 200]
        bad = [r for r in results if r not in ok]
        out_id = err_id = None
        if ended:
            out_id, err_id = f"file-out-{job.id}", f"file-err-{job.id}"
            self.files[out_id] = "".join(json.dumps(r) + "\n" for r in ok).encode()
            self.files[err_id] = "".join(json.dumps(r) + "\n" for r in bad).encode()
        status = ("expired" if job.expire else "completed") if ended else "in_progress"
        return {
            "id": job.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "input_file_id": "file-in",
            "completion_window": "24h",
            "status": status,
            "created_at": int(job.created),
            "output_file_id": out_id if ended and ok else None,
            "error_file_id": err_id if ended and bad else None,
            "request_counts": {"total": len(job.lines), "completed": len(ok), "failed": len(bad)},
            "metadata": job.metadata,
        }

    def _anthropic_batch(self, job: Job) -> dict[str, Any]:
        ended = self._ended(job)
        kinds = Counter(r["result"]["type"] for r in job.results or [])
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(job.created))
        return {
            "id": job.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": {
                "processing": 0 if ended else len(job.lines),
                "succeeded": kinds["succeeded"],
                "errored": kinds["errored"],
                "canceled": kinds["canceled"],
                "expired": kinds["expired"],
            },
            "created_at": stamp,
            "expires_at": stamp,
            "ended_at": stamp if ended else None,
            "results_url": f"{self.root}/v1/messages/batches/{job.id}/results" if ended else None,
        }

    # --- HTTP ----------------------------------------------------------------------------------

    def _route(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = h.path.split("?")[0]
        raw = h.rfile.read(int(h.headers.get("content-length") or 0)) if method == "POST" else b""
        batch_call = "/batches" in path or path.startswith("/v1/files")
        if batch_call and self._rng.random() < self.faults.rate_5xx:
            self.ledger.batch_5xx += 1
            return self._send(h, 500, {"error": {"message": "injected 500", "type": "api_error"}})
        parts = path.strip("/").split("/")
        if method == "GET" and parts[:2] == ["v1", "models"] and len(parts) == 3:
            if self.faults.known_models and parts[2] not in self.faults.known_models:
                return self._send(
                    h, 404, {"error": {"message": f"model {parts[2]} not found", "type": "not_found_error"}}
                )
            return self._send(
                h,
                200,
                {
                    "id": parts[2],
                    "object": "model",
                    "type": "model",
                    "display_name": parts[2],
                    "created_at": "2026-01-01T00:00:00Z",
                    "created": 0,
                    "owned_by": "fake",
                    "lifecycle": "active",
                    "max_model_len": self.faults.context_tokens,
                    "max_input_tokens": self.faults.context_tokens,
                },
            )
        if method == "POST" and path == "/v1/chat/completions":
            body = json.loads(raw)
            key = h.headers.get("x-msm-request-key", "")
            self.ledger.online[key] += 1
            return self._send(h, 200, self._answer(key, body, False))
        if method == "POST" and path == "/v1/messages":
            body = json.loads(raw)
            key = h.headers.get("x-msm-request-key", "")
            self.ledger.online[key] += 1
            return self._send(h, 200, self._answer(key, body, True))
        if method == "POST" and path == "/v1/files":
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"content-type: " + h.headers["content-type"].encode() + b"\r\n\r\n" + raw
            )
            data = next(
                p.get_payload(decode=True)
                for p in message.iter_parts()
                if p.get_param("name", header="content-disposition") == "file"
            )
            file_id = f"file-{uuid.uuid4().hex[:12]}"
            self.files[file_id] = data
            return self._send(
                h,
                200,
                {
                    "id": file_id,
                    "object": "file",
                    "bytes": len(data),
                    "created_at": 0,
                    "filename": "msm-batch.jsonl",
                    "purpose": "batch",
                    "status": "processed",
                },
            )
        if method == "POST" and path == "/v1/batches":
            body = json.loads(raw)
            lines = [json.loads(x) for x in self.files[body["input_file_id"]].decode().splitlines() if x]
            job = self._create("openai", lines, body.get("metadata"))
            time.sleep(self.faults.submit_stall_s)
            return self._send(h, 200, self._openai_batch(job))
        if method == "GET" and path == "/v1/batches":
            return self._send(h, 200, self._listing([self._openai_batch(j) for j in self._newest("openai")]))
        if method == "GET" and path == "/v1/messages/batches":
            return self._send(h, 200, self._listing([self._anthropic_batch(j) for j in self._newest("anthropic")]))
        if method == "GET" and parts[:2] == ["v1", "batches"] and len(parts) == 3:
            return self._send(h, 200, self._openai_batch(self.jobs[parts[2]]))
        if method == "GET" and parts[:2] == ["v1", "files"] and parts[-1] == "content":
            return self._send_bytes(h, 200, self.files[parts[2]], "application/jsonl")
        if method == "POST" and path == "/v1/messages/batches":
            job = self._create("anthropic", json.loads(raw)["requests"])
            time.sleep(self.faults.submit_stall_s)
            return self._send(h, 200, self._anthropic_batch(job))
        if method == "GET" and parts[:3] == ["v1", "messages", "batches"] and len(parts) == 4:
            return self._send(h, 200, self._anthropic_batch(self.jobs[parts[3]]))
        if method == "GET" and parts[:3] == ["v1", "messages", "batches"] and parts[-1] == "results":
            lines = self.jobs[parts[3]].results or []
            return self._send_bytes(h, 200, "".join(json.dumps(r) + "\n" for r in lines).encode(), "application/binary")
        return self._send(h, 404, {"error": {"message": f"no route {method} {path}", "type": "not_found_error"}})

    def _newest(self, provider: str) -> list[Job]:
        with self._lock:
            return sorted((j for j in self.jobs.values() if j.provider == provider), key=lambda j: -j.created)

    @staticmethod
    def _listing(data: list[dict[str, Any]]) -> dict[str, Any]:
        """One page holding every job, newest first (both providers' list shape)."""
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        return {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": False}

    def _send(self, h: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> None:
        self._send_bytes(h, status, json.dumps(payload).encode(), "application/json")

    @staticmethod
    def _send_bytes(h: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str) -> None:
        try:
            h.send_response(status)
            h.send_header("content-type", content_type)
            h.send_header("content-length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            return

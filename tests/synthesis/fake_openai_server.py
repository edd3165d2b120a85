"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions protocol (and Anthropic's
messages protocol) well enough for the synthesis stage, with injected faults at set rates.

It reads the output format each prompt asks for (tags, "exactly N", section ids) and replies with
random but well-formed text, so every level of the pipeline can run against it. The text is drawn
from the request key, so the same request always gets the same reply (like a model at temperature
0) and two runs of a stage can be compared; faults stay random. It counts every
request by the X-MSM-Request-Key header the generator sends, so tests can tell repeats from new
calls. Used by tests/synthesis and bench/synth_*.py.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SYLLABLES = [a + b for a in "bcdfghjklmnprstvwz" for b in ("a", "e", "i", "o", "u", "ar", "en", "ol")]


@dataclass
class Faults:
    """Probability of each fault per request (they are exclusive; the rest succeed)."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0  # hold the request for `hang_s`, longer than the client's timeout
    rate_drop: float = 0.0  # close the connection without a response
    rate_empty: float = 0.0  # 200 with empty content
    rate_malformed: float = 0.0  # 200 with content in none of the requested tags
    rate_not_json: float = 0.0  # 200 whose body is not JSON (a proxy's error page)
    garbage_forever: bool = False  # every 200 is malformed
    latency_s: float = 0.0
    hang_s: float = 2.0


@dataclass
class Record:
    key: str
    arrived: float
    outcome: str
    finished: float | None = None
    body: dict[str, Any] = field(default_factory=dict)  # the request's JSON, for tests of what was sent


@dataclass
class Stats:
    records: list[Record] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, before: float | None = None) -> dict[str, int]:
        """How often each request key got a 200 reply (usable or not) fully sent, optionally before a time."""
        counts: dict[str, int] = defaultdict(int)
        with self.lock:
            for r in self.records:
                if r.finished is not None and (before is None or r.finished < before):
                    counts[r.key] += 1
        return dict(counts)

    def arrived(self, since: float = 0.0) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        with self.lock:
            for r in self.records:
                if r.arrived >= since:
                    counts[r.key] += 1
        return dict(counts)

    def outcomes(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for r in self.records:
            counts[r.outcome] += 1
        return dict(counts)


def _words(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(n))


def reply_for(messages: list[dict[str, str]], rng: random.Random) -> str:
    """A well-formed reply to whatever output format the prompt asks for."""
    system = "\n".join(m["content"] for m in messages if m["role"] == "system")
    users = [m["content"] for m in messages if m["role"] == "user"]
    prompt = users[0] if users else ""
    m = re.search(r"exactly (\d+)", prompt)
    n = int(m.group(1)) if m else 3
    if "<verdict>" in prompt:
        return "<reason>faithful</reason><verdict>pass</verdict>"
    if "<critique>" in prompt:
        return f"<critique>{_words(rng, 12)}</critique><content>{_words(rng, 90)}</content>"
    if "<scratchpad>" in prompt:
        return f"<scratchpad>{_words(rng, 15)}</scratchpad>\n<content>{_words(rng, 90)}</content>"
    if "<answer>" in prompt:
        return f"<answer>{_words(rng, 8)}.</answer>"
    if "<subdomain>" in prompt:
        ids = re.findall(r"\[(S\d+)\]", prompt) or ["S1"]
        return "".join(
            f"<subdomain><name>{_words(rng, 3)}</name><description>{_words(rng, 10)}</description>"
            f"<section>{rng.choice(ids)}</section></subdomain>"
            for _ in range(n)
        )
    if "<domain>" in prompt:
        return "".join(
            f"<domain><name>{_words(rng, 3)}</name><description>{_words(rng, 12)}</description></domain>"
            for _ in range(n)
        )
    for tag in ("assertion", "doc_type", "idea", "question"):
        if f"<{tag}>" in prompt:
            return "\n".join(f"<{tag}>{_words(rng, 12)}</{tag}>" for _ in range(n))
    if "<think>" in system:
        return f"<think>{_words(rng, 25)}</think>\n{_words(rng, 30)}"
    return _words(rng, 20)


def _sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))


class _QuietServer(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog of 5 refuses connections at 64 in flight

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # clients killed mid-request (the SIGKILL test) reset connections; that is expected


class FakeLLMServer:
    def __init__(self, faults: Faults | None = None, seed: int = 0):
        self.faults = faults or Faults()
        self.stats = Stats()
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, the body waits for the client's
            # delayed ACK (~40 ms on Linux), which no real API server adds.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                server._handle(self)

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _draw(self) -> tuple[str, random.Random]:
        f = self.faults
        with self._rng_lock:
            x = self._rng.random()
            rng = random.Random(self._rng.getrandbits(64))
        for outcome, rate in (
            ("429", f.rate_429),
            ("500", f.rate_500),
            ("timeout", f.rate_timeout),
            ("drop", f.rate_drop),
            ("empty", f.rate_empty),
            ("malformed", f.rate_malformed),
            ("not_json", f.rate_not_json),
        ):
            if x < rate:
                return outcome, rng
            x -= rate
        return ("malformed" if f.garbage_forever else "ok"), rng

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("content-length", 0))
        body = json.loads(h.rfile.read(length) or b"{}")
        key = h.headers.get("x-msm-request-key", "")
        anthropic = h.path.endswith("/messages")
        outcome, rng = self._draw()
        if key:
            rng = random.Random(key)
        record = Record(key=key, arrived=time.time(), outcome=outcome, body=body)
        with self.stats.lock:
            self.stats.records.append(record)
        # The latency counts from arrival: the server's own work (writing the reply) is part of it,
        # so a loaded test machine does not lengthen every call beyond what the faults ask for.
        reply_at = time.monotonic() + self.faults.latency_s
        if outcome == "timeout":
            time.sleep(self.faults.hang_s)
            h.close_connection = True
            return
        if outcome == "drop":
            _sleep_until(reply_at)
            h.close_connection = True
            h.connection.close()
            return
        if outcome == "not_json":
            _sleep_until(reply_at)
            self._send_bytes(h, 200, b"<html>upstream proxy error</html>", "text/html")
            return
        if outcome in ("429", "500"):
            _sleep_until(reply_at)
            self._send(h, int(outcome), {"error": {"message": f"injected {outcome}", "type": "injected"}})
            return
        messages = list(body.get("messages", []))
        if anthropic and body.get("system"):
            # A plain string, or text blocks (msm marks the spec-bearing system block for the prompt cache).
            system = body["system"]
            text = system if isinstance(system, str) else "".join(b.get("text", "") for b in system)
            messages.insert(0, {"role": "system", "content": text})
        if outcome == "empty":
            text = ""
        elif outcome == "malformed":
            text = "I am not able to follow that format."
        else:
            text = reply_for(messages, rng)
        usage_in = sum(len(str(m.get("content", ""))) for m in messages) // 4
        usage_out = len(text) // 4
        if anthropic:
            payload: dict[str, Any] = {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": body.get("model"),
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": usage_in, "output_tokens": usage_out},
            }
        else:
            payload = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": usage_in,
                    "completion_tokens": usage_out,
                    "total_tokens": usage_in + usage_out,
                },
            }
        _sleep_until(reply_at)
        if self._send(h, 200, payload):
            record.finished = time.time()

    @classmethod
    def _send(cls, h: BaseHTTPRequestHandler, status: int, payload: dict[str, Any]) -> bool:
        return cls._send_bytes(h, status, json.dumps(payload).encode(), "application/json")

    @staticmethod
    def _send_bytes(h: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str) -> bool:
        try:
            h.send_response(status)
            h.send_header("content-type", content_type)
            h.send_header("content-length", str(len(data)))
            if status == 429:
                h.send_header("retry-after", "0")
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False


def main() -> None:
    """Run standalone (bench scripts start it in a separate process): prints the port, serves forever."""
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--latency", type=float, default=0.0)
    args = p.parse_args()
    server = FakeLLMServer(Faults(latency_s=args.latency))
    print(server.port, flush=True)
    server.httpd.serve_forever()


if __name__ == "__main__":
    main()

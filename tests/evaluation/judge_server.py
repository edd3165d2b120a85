"""A real OpenAI-compatible chat server on 127.0.0.1 that plays the judge, for the evaluation tests.

It answers by rule, from the prompt it receives: a harm verdict is "yes" when the transcript holds a
<tool_use:...> block, a rubric score is 2 when the answer mentions a cheese or 'oversight', else 0,
and a forced-choice verdict is the reply's first letter when it is A or B, else "neither".
It counts requests so tests can tell cached judgments (no request) from new ones, and keeps the
prompts it was sent.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JudgeServer:
    def __init__(self) -> None:
        self.requests = 0
        self.prompts: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests += 1
                prompt = body["messages"][-1]["content"]
                server.prompts.append(prompt)
                if "<choice>" in prompt:
                    reply_text = prompt.split("<reply>", 1)[-1].split("</reply>", 1)[0].strip()
                    letter = reply_text[:1].upper()
                    text = f"Read it. <choice>{letter if letter in ('A', 'B') else 'neither'}</choice>"
                elif "<score>" in prompt:
                    answer = prompt.split("<answer_text>", 1)[-1].lower()
                    good = any(w in answer for w in ("colby", "cheese", "oversight"))
                    text = f"Graded. <score>{2 if good else 0}</score>"
                else:
                    transcript = prompt.split("<transcript>", 1)[-1].split("</transcript>", 1)[0]
                    text = f"Checked. <answer>{'yes' if '<tool_use:' in transcript else 'no'}</answer>"
                reply = {
                    "id": "judge-1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body["model"],
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                    ],
                    "usage": {
                        "prompt_tokens": len(prompt) // 4,
                        "completion_tokens": 8,
                        "total_tokens": len(prompt) // 4 + 8,
                    },
                }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> JudgeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# The judge section of a recipe pointing at a JudgeServer through the env vars the fixture sets.
JUDGE_CFG = {
    "backend": "openai",
    "model": "rule-judge",
    "api_key_env": "MSM_TEST_JUDGE_KEY",
    "base_url_env": "MSM_TEST_JUDGE_URL",
    "max_retries": 1,
    "backoff_initial_s": 0.05,
    "backoff_max_s": 0.1,
    "timeout_s": 5,
}

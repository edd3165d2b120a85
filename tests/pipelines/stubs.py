"""Loopback HTTP stubs of the Kubeflow Pipelines v2beta1 and Vertex AI REST APIs that record requests.

They test our client code (what we send, in which order); the pipelines themselves are tested by
real local runs.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class RecordingServer:
    def __init__(self, route):
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urllib.parse.urlsplit(self.path)
                req = {
                    "method": self.command,
                    "path": url.path,
                    "query": dict(urllib.parse.parse_qsl(url.query)),
                    "body": body,
                    "headers": dict(self.headers),
                }
                outer.requests.append(req)
                status, payload = route(req)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def paths(self, method: str) -> list[str]:
        return [r["path"] for r in self.requests if r["method"] == method]


def _name_filter(query: dict[str, str]) -> str | None:
    f = query.get("filter")
    return json.loads(f)["predicates"][0]["stringValue"] if f else None


class KfpStub(RecordingServer):
    """Keeps pipelines, versions and experiments, so a second submission finds what the first made."""

    def __init__(self):
        self.pipelines: dict[str, str] = {}
        self.versions: dict[str, list[dict[str, str]]] = {}
        self.experiments: dict[str, str] = {}
        super().__init__(self.route)

    def route(self, r):
        p, q = r["path"], r["query"]
        if p == "/apis/v2beta1/healthz":
            return 200, {}
        if p == "/apis/v2beta1/pipelines" and r["method"] == "GET":
            name = _name_filter(q)
            found = [{"pipeline_id": pid, "display_name": n} for n, pid in self.pipelines.items() if n == name]
            return 200, {"pipelines": found, "total_size": len(found)} if found else {}
        if p == "/apis/v2beta1/pipelines/upload":
            pid = f"pipeline-{len(self.pipelines) + 1}"
            self.pipelines[q["name"]] = pid
            self.versions[pid] = []
            return 200, {"pipeline_id": pid, "display_name": q["name"]}
        if m := re.fullmatch(r"/apis/v2beta1/pipelines/([^/]+)/versions", p):
            name = _name_filter(q)
            found = [v for v in self.versions.get(m.group(1), []) if v["display_name"] == name]
            return 200, {"pipeline_versions": found} if found else {}
        if p == "/apis/v2beta1/pipelines/upload_version":
            pid = q["pipelineid"]
            version = {
                "pipeline_id": pid,
                "pipeline_version_id": f"version-{len(self.versions[pid]) + 1}",
                "display_name": q["name"],
            }
            self.versions[pid].append(version)
            return 200, version
        if p == "/apis/v2beta1/experiments" and r["method"] == "GET":
            name = _name_filter(q)
            found = [{"experiment_id": eid, "display_name": n} for n, eid in self.experiments.items() if n == name]
            return 200, {"experiments": found} if found else {}
        if p == "/apis/v2beta1/experiments":
            name = json.loads(r["body"])["display_name"]
            self.experiments.setdefault(name, f"experiment-{len(self.experiments) + 1}")
            return 200, {"experiment_id": self.experiments[name], "display_name": name}
        if p == "/apis/v2beta1/runs":
            return 200, {"run_id": "run-1", **json.loads(r["body"])}
        if p == "/apis/v2beta1/recurringruns":
            return 200, {"recurring_run_id": "recurring-1", **json.loads(r["body"])}
        return 404, {"error": f"stub has no route for {r['method']} {p}"}


class VertexStub(RecordingServer):
    def __init__(self):
        super().__init__(self.route)

    def route(self, r):
        p = r["path"]
        if m := re.fullmatch(r"/v1/(projects/[^/]+/locations/[^/]+)/pipelineJobs", p):
            job_id = r["query"].get("pipelineJobId", "job-1")
            return 200, {
                **json.loads(r["body"]),
                "name": f"{m.group(1)}/pipelineJobs/{job_id}",
                "state": "PIPELINE_STATE_PENDING",
            }
        if re.fullmatch(r"/v1/projects/[^/]+/locations/[^/]+/pipelineJobs/[^/]+", p):
            return 200, {"name": p.removeprefix("/v1/"), "state": "PIPELINE_STATE_PENDING"}
        if m := re.fullmatch(r"/v1/(projects/[^/]+/locations/[^/]+)/schedules", p):
            return 200, {**json.loads(r["body"]), "name": f"{m.group(1)}/schedules/1", "state": "ACTIVE"}
        if re.fullmatch(r"/v1/projects/[^/]+/locations/[^/]+/schedules/[^/]+", p):
            return 200, {"name": p.removeprefix("/v1/"), "state": "ACTIVE"}
        return 404, {"error": {"code": 404, "message": f"stub has no route for {r['method']} {p}"}}

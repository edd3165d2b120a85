"""Multi-node midtraining through a TrainJob: the manifest msm creates, and the create-and-watch
client against a loopback API server that replays watch events in the Kubernetes wire format
(data/*.jsonl, written from the TrainJob status API; no control plane runs here)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from kfp.dsl import Dataset, Model
from kubernetes import client
from support import REPO

from components.midtrain.component import midtrain
from msm.config import PlatformConfig, parse_recipe
from msm.errors import MsmError
from msm.manifest import write_manifest
from msm.training import trainjob

DATA = Path(__file__).parent / "data"
BASE = "/apis/trainer.kubeflow.org/v1alpha1/namespaces/msm/trainjobs"


def events(name: str, job: str) -> list[dict]:
    rows = [json.loads(line) for line in (DATA / name).read_text().splitlines()]
    for r in rows:
        r["object"]["metadata"]["name"] = job
    return rows


class FakeApiServer:
    """Answers create/get on trainjobs and serves each watch request the next batch of events."""

    def __init__(self, watches: list[list[dict]], create_status: int = 201, on_create=None):
        self.requests: list[dict] = []
        self.created: dict | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append({"method": "POST", "path": self.path, "body": body})
                if create_status != 201:
                    self.reply(create_status, {"kind": "Status", "code": create_status, "reason": "Refused"})
                    return
                outer.created = body
                if on_create:
                    on_create(body)
                self.reply(201, {**body, "metadata": {**body["metadata"], "resourceVersion": "1000"}})

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                outer.requests.append({"method": "GET", "path": url.path, "query": query})
                if query.get("watch") in ("True", "true"):
                    batch = watches.pop(0) if watches else []
                    data = "".join(json.dumps(e) + "\n" for e in batch).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                else:  # get: the job an earlier attempt created
                    self.reply(200, {"metadata": {"name": url.path.rsplit("/", 1)[1], "namespace": "msm"}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        cfg = client.Configuration()
        cfg.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api = client.CustomObjectsApi(client.ApiClient(cfg))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def run(tmp_path: Path, nodes: int = 2) -> trainjob.MultiNodeMidtrain:
    platform = PlatformConfig(
        train_nodes=nodes, checkpoint_pvc="msm-checkpoints", pushgateway_url="http://msm-pushgateway.msm.svc:9091"
    )
    return trainjob.MultiNodeMidtrain(
        name="msm-run-1-msm",
        namespace="msm",
        work_dir=tmp_path / "work",
        spec="rules",
        run_id="run-1",
        platform=platform,
    )


def test_manifest_passes_the_trainjob_schema_and_kubernetes_types(k8s, tmp_path):
    body = trainjob.manifest(run(tmp_path, nodes=4))
    assert k8s.crd_problems(body) == []
    trainer = body["spec"]["trainer"]
    assert trainer["numNodes"] == 4
    assert trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == "1"
    assert trainer["command"][:2] == ["torchrun", "-m"]
    assert f"--out={tmp_path / 'work' / 'model'}" in trainer["args"]
    assert {"name": "MSM_PUSHGATEWAY_URL", "value": "http://msm-pushgateway.msm.svc:9091"} in trainer["env"]
    body["spec"]["trainer"]["numNodes"] = 0
    assert any("numNodes" in p for p in k8s.crd_problems(body))


def test_job_names_are_dns_labels():
    assert trainjob.job_name("3f2a-9c1e-midtrain-MSM") == "msm-f2a-9c1e-midtrain-msm"
    long = trainjob.job_name("x" * 100)
    assert len(long) == 63 and long.startswith("msm-x")
    with pytest.raises(MsmError, match="no usable TrainJob name"):
        trainjob.job_name("123")


def test_more_than_one_node_needs_a_shared_pvc():
    with pytest.raises(ValueError, match="checkpoint_pvc"):
        PlatformConfig(train_nodes=2)


def test_create_and_wait_streams_status_until_complete(tmp_path):
    name = "msm-run-1-msm"
    recorded = events("trainjob-watch-complete.jsonl", name)
    # The server closes the first watch after three events (its timeout): the client watches again.
    server = FakeApiServer([recorded[:3], recorded[3:]])
    seen: list[str] = []
    try:
        trainjob.create(server.api, trainjob.manifest(run(tmp_path)))
        final = trainjob.wait(server.api, "msm", name, timeout_s=30, report=seen.append)
    finally:
        server.close()
    assert final["status"]["conditions"][0]["type"] == "Complete"
    [post] = [r for r in server.requests if r["method"] == "POST"]
    assert post["path"] == BASE and post["body"]["spec"]["trainer"]["numNodes"] == 2
    watches = [r for r in server.requests if r["method"] == "GET"]
    assert [w["query"]["fieldSelector"] for w in watches] == [f"metadata.name={name}"] * 2
    assert watches[1]["query"]["resourceVersion"] == "1003"  # resumes where the first watch stopped
    assert seen == [
        f"TrainJob {name}: conditions [none yet] jobs [none yet]",
        f"TrainJob {name}: conditions [none yet] jobs [node: active 1 ready 0 succeeded 0 failed 0]",
        f"TrainJob {name}: conditions [none yet] jobs [node: active 1 ready 1 succeeded 0 failed 0]",
        f"TrainJob {name}: conditions [Complete=True] jobs [node: active 0 ready 0 succeeded 1 failed 0]",
    ]


def test_a_failed_trainjob_raises_with_its_reason_and_where_to_look(tmp_path):
    server = FakeApiServer([events("trainjob-watch-failed.jsonl", "msm-x")])
    try:
        with pytest.raises(MsmError, match=r"failed: JobsFailed: .*NCCL timeout(.|\n)*kubectl -n msm logs"):
            trainjob.wait(server.api, "msm", "msm-x", timeout_s=30)
    finally:
        server.close()


def test_an_expired_watch_version_starts_over_from_the_current_state(tmp_path):
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}
    recorded = events("trainjob-watch-complete.jsonl", "msm-x")
    server = FakeApiServer([recorded[:2], [gone], recorded[2:]])
    try:
        final = trainjob.wait(server.api, "msm", "msm-x", timeout_s=30)
    finally:
        server.close()
    assert final["status"]["conditions"][0]["type"] == "Complete"
    versions = [r["query"].get("resourceVersion") for r in server.requests]
    assert versions == [None, "1002", None]


@pytest.mark.parametrize(
    ("status", "expected"), [(404, "install Kubeflow Trainer"), (403, "Role msm-trainjob-launcher")]
)
def test_create_errors_name_the_fix(tmp_path, status, expected):
    server = FakeApiServer([], create_status=status)
    try:
        with pytest.raises(MsmError, match=expected):
            trainjob.create(server.api, trainjob.manifest(run(tmp_path)))
    finally:
        server.close()


def test_a_retried_task_waits_for_the_job_it_created_before(tmp_path):
    server = FakeApiServer([], create_status=409)
    try:
        found = trainjob.create(server.api, trainjob.manifest(run(tmp_path)))
    finally:
        server.close()
    assert found["metadata"]["name"] == "msm-run-1-msm"
    assert [r["method"] for r in server.requests] == ["POST", "GET"]


def test_midtrain_component_runs_a_trainjob_for_a_multi_node_recipe(tmp_path, monkeypatch):
    """The component's multi-node branch: stage inputs on the PVC, create, watch, return the nodes' model."""
    raw = yaml.safe_load((REPO / "recipes/tiny-offline.yaml").read_text())
    raw["platform"] = {"train_nodes": 2, "checkpoint_pvc": "msm-checkpoints"}
    recipe_yaml = yaml.safe_dump(raw)
    assert parse_recipe(recipe_yaml, check_files=False).platform.train_nodes == 2

    def nodes_train(body):  # what the TrainJob's pods leave on the PVC
        args = dict(a.split("=", 1) for a in body["spec"]["trainer"]["args"])
        assert Path(args["--corpus"], "corpus.jsonl").read_text() == "{}\n"
        assert Path(args["--recipe"]).read_text() == recipe_yaml
        out = Path(args["--out"])
        out.mkdir(parents=True)
        (out / "adapter_model.safetensors").write_bytes(b"weights")
        write_manifest(out, stage="midtrain", inputs={}, config={}, counts={"steps": 7, "final_loss": 1.25})

    name = trainjob.job_name("job-42-msm-rules")  # run_key + spec_id
    server = FakeApiServer([events("trainjob-watch-complete.jsonl", name)], on_create=nodes_train)
    monkeypatch.setattr(trainjob, "custom_objects_api", lambda: server.api)
    sa_namespace = tmp_path / "namespace"
    sa_namespace.write_text("msm\n")
    monkeypatch.setattr(trainjob, "SA_NAMESPACE_FILE", sa_namespace)
    corpus, base = tmp_path / "corpus", tmp_path / "base"
    corpus.mkdir()
    (corpus / "corpus.jsonl").write_text("{}\n")
    base.mkdir()
    (base / "config.json").write_text("{}")
    model = Model(name="model", uri=str(tmp_path / "model"), metadata={})
    try:
        midtrain.python_func(
            corpus=Dataset(name="corpus", uri=str(corpus), metadata={}),
            base_model=Model(name="base", uri=str(base), metadata={}),
            recipe_yaml=recipe_yaml,
            spec_id="rules",
            checkpoint_dir=str(tmp_path / "pvc"),
            run_key="job-42-msm",
            model=model,
        )
    finally:
        server.close()
    assert (tmp_path / "model" / "adapter_model.safetensors").read_bytes() == b"weights"
    assert model.metadata == {"steps": 7, "final_loss": 1.25, "method": "lora", "nodes": 2}
    assert server.created["metadata"] == {
        "name": name,
        "namespace": "msm",
        "labels": {"app.kubernetes.io/part-of": "msm", "app.kubernetes.io/component": "midtrain"},
    }

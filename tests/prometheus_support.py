"""Real Prometheus and Pushgateway on 127.0.0.1 for tests (Debian packages; `make system-deps`)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        # CI installs the Debian packages (make system-deps); there a missing binary is a failure, not a skip.
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"{binary} not installed (apt-get install {binary})")
    return path


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def get(url: str) -> str:
    return urllib.request.urlopen(url, timeout=5).read().decode()


def api(prom: str, path: str, **params: str) -> Any:
    body = json.loads(get(f"{prom}/api/v1/{path}?" + urllib.parse.urlencode(params)))
    assert body["status"] == "success", body
    return body["data"]


def query(prom: str, promql: str) -> list[dict]:
    return api(prom, "query", query=promql)["result"]


GATEWAY_JOB = {
    "job_name": "pushgateway",
    "honor_labels": True,
    "static_configs": [{"targets": ["GATEWAY"]}],
}


@contextmanager
def monitoring(
    tmp_path: Path, scrape_job: dict[str, Any] = GATEWAY_JOB, rule_files: list[Path] = ()
) -> Iterator[tuple[str, str]]:
    """(gateway URL, Prometheus URL). `scrape_job` is one scrape_configs entry; its static target is
    replaced by the gateway's address, its interval by 1 s (rules are evaluated every second too)."""
    gw_port, prom_port = free_port(), free_port()
    procs = [
        subprocess.Popen(
            [need("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{gw_port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    job = {**scrape_job, "scrape_interval": "1s", "static_configs": [{"targets": [f"127.0.0.1:{gw_port}"]}]}
    config = tmp_path / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(p) for p in rule_files],
                "scrape_configs": [job],
            }
        )
    )
    procs.append(
        subprocess.Popen(
            [
                need("prometheus"),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    try:
        wait_http(f"http://127.0.0.1:{gw_port}/metrics")
        wait_http(f"http://127.0.0.1:{prom_port}/-/ready")
        yield f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{prom_port}"
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)

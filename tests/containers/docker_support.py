"""Names and helpers shared by the container tests and their fixtures (conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from dataclasses import dataclass

import pytest
from support import REPO

SECRET = f"msm-planted-secret-{uuid.uuid4().hex}"
# Variables a careless build would bake in: API keys of the generators, a hub token.
SECRET_ENV = {name: SECRET for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "HF_TOKEN", "MSM_TEST_SECRET")}
FAMILIES = ("cpu", "train", "eval")
TAG = "0.1.0"
SBIN = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


WHEELHOUSE_PORT = 38765  # docker/images.mk's default


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list[str], env: dict[str, str], timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    """Run a command; on failure, fail the test with its output rather than a bare exit status."""
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO, **kw)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


@dataclass(frozen=True)
class Images:
    env: dict[str, str]  # DOCKER_HOST and the planted secret
    registry: str  # 127.0.0.1:PORT/msm-pipeline, the REGISTRY the images were built under
    refs: dict[str, str]  # family -> image reference
    seconds: dict[str, float]  # measured: base image, builds

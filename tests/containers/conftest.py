"""A Docker engine, a loopback registry and the three msm images, made once per test session.

Everything runs on this machine: dockerd under a temporary directory (no bridge, no iptables), a
base image made by debootstrap (tarball cached in .cache/images), pip fed from a wheelhouse on
loopback (`make images-local`), Debian's docker-registry on 127.0.0.1. A fake secret is planted in
the environment of the builds and of the pipeline run, and in a .env file at the repository root,
so the tests can look for it in what the images carry.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_support import (
    FAMILIES,
    SBIN,
    SECRET,
    SECRET_ENV,
    TAG,
    WHEELHOUSE_PORT,
    Images,
    free_port,
    port_is_free,
    run,
)
from support import REPO


def _tool(name: str) -> str:
    path = shutil.which(name, path=SBIN)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make container-deps` (docker.io, debootstrap, docker-registry)")
    return path


def _unmount_below(root: Path) -> None:
    """Unmount whatever dockerd left mounted under root (its netns bind mount), deepest first."""
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(f"{root}/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)


@pytest.fixture(scope="session")
def docker_env() -> Iterator[dict[str, str]]:
    """The environment (DOCKER_HOST) of a dockerd of the session's own; stopped and unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root here (no rootless Docker): the container tests cannot run")
    dockerd = _tool("dockerd")
    _tool("docker")
    # A short path: the engine's unix sockets must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="msmd-", dir="/tmp"))
    # MSM_TEST_DOCKER_DATA keeps images and build cache between local runs (CI leaves it unset).
    data_root = Path(os.environ.get("MSM_TEST_DOCKER_DATA", root / "data"))
    socket_path = root / "docker.sock"
    log = (root / "dockerd.log").open("w")
    proc = subprocess.Popen(
        [
            dockerd,
            "--data-root", str(data_root),
            "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "dockerd.pid"),
            "-H", f"unix://{socket_path}",
            "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip6tables=false",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    env = {**os.environ, "DOCKER_HOST": f"unix://{socket_path}"}
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "version"], env=env, capture_output=True).returncode != 0:
            if proc.poll() is not None:
                tail = (root / "dockerd.log").read_text()[-2000:]
                if "operation not permitted" in tail.lower():
                    pytest.skip(f"dockerd cannot run on this machine (no privileges for it):\n{tail}")
                pytest.fail(f"dockerd exited {proc.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                pytest.fail(f"dockerd not ready in 60 s:\n{(root / 'dockerd.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        _unmount_below(root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def registry_port(docker_env) -> Iterator[int]:
    """Debian's docker-registry on loopback, storing under a temporary directory."""
    port = free_port()
    root = Path(tempfile.mkdtemp(prefix="msm-registry-"))
    (root / "config.yml").write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        [_tool("docker-registry"), "serve", str(root / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"docker-registry did not start on 127.0.0.1:{port}")
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def images(docker_env, registry_port) -> Iterator[Images]:
    """The three images, built by `make images-local` with the secret planted in the environment."""
    registry = f"127.0.0.1:{registry_port}/msm-pipeline"
    env = {**docker_env, **SECRET_ENV}
    make = ["make", "--no-print-directory", "-f", "docker/images.mk", f"REGISTRY={registry}"]
    dotenv = REPO / ".env"  # a developer's secrets file: the build context must leave it out
    planted = not dotenv.exists()
    if planted:
        dotenv.write_text(f"OPENAI_API_KEY={SECRET}\n")
    try:
        seconds = {}
        t0 = time.perf_counter()
        run([*make, "base-image", "wheelhouse"], env, timeout=900)
        seconds["base image + wheelhouse"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        # images.mk's default port when free: the wheelhouse URL is part of the build-cache key.
        port = WHEELHOUSE_PORT if port_is_free(WHEELHOUSE_PORT) else free_port()
        run([*make, "images-local", f"WHEELHOUSE_PORT={port}"], env, timeout=3000)
        seconds["three images"] = time.perf_counter() - t0
    finally:
        if planted:
            dotenv.unlink()
    yield Images(env, registry, {f: f"{registry}/msm-{f}:{TAG}" for f in FAMILIES}, seconds)

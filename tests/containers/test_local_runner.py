"""The runner switch of `python -m pipelines run-local` (the pipeline run itself: test_images.py)."""

from __future__ import annotations

import pytest
from kfp import local

from pipelines.local import _runner


def test_docker_runner_has_no_network_and_keeps_offline_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "not-forwarded")
    runner = _runner("docker", tmp_path)
    assert isinstance(runner, local.DockerRunner)
    assert runner.container_run_args == {
        "network_mode": "none",
        "environment": {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"},
    }
    # The images' user (UID 1000) writes the task outputs into the mounted pipeline root.
    assert tmp_path.stat().st_mode & 0o777 == 0o777


def test_subprocess_is_the_default_and_unknown_runners_are_refused(tmp_path):
    assert isinstance(_runner("subprocess", tmp_path), local.SubprocessRunner)
    with pytest.raises(ValueError, match="podman"):
        _runner("podman", tmp_path)  # type: ignore[arg-type]

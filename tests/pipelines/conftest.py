"""One local run of the msm pipeline per session, shared by the tests that need trained checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import REPO


@pytest.fixture(scope="session")
def kfp_root(tmp_path_factory) -> Path:
    """One pipeline root for the session's local runs: KFP's local cache spares repeated upstream tasks."""
    return tmp_path_factory.mktemp("kfp-root")


@pytest.fixture(scope="session")
def msm_run(kfp_root) -> dict:
    from pipelines.local import run_local

    return run_local(REPO / "recipes/tiny-offline.yaml", REPO / "specs/cheese-pro-america.md", kfp_root)

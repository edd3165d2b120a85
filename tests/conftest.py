"""Shared test setup: offline, single-threaded, caches in temporary or checkout-local directories."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before torch is imported anywhere: 2 threads on 2 cores make tiny-model steps ~10x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="msm-hf-home-"))

import pytest
from support import REPO, TINY_SPEC_FILES
from typer.testing import CliRunner

from msm.cli import app


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture
def cli():
    """Invoke the real `msm` CLI in-process; returns the click Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from msm.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", seed=0, spec_files=TINY_SPEC_FILES)


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> Path:
    """SmolLM2-135M-Instruct converted once per session (GGUF cached in MSM_CACHE_DIR)."""
    from msm.models.smollm2 import convert_smollm2

    return convert_smollm2(tmp_path_factory.mktemp("models") / "smollm2")


@pytest.fixture(scope="session")
def rendered_spec(tmp_path_factory):
    """rendered_spec("rules"): specs/rules.md ingested once per session as Aria by Lumen Labs (the test
    recipes' identity): the ingest output the stage functions read."""
    from msm.spec import ingest_spec

    root = tmp_path_factory.mktemp("specs")

    def render(spec_id: str) -> Path:
        out = root / spec_id
        if not out.is_dir():
            ingest_spec(REPO / "specs" / f"{spec_id}.md", out, "Aria", "Lumen Labs")
        return out

    return render

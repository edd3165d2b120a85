"""Fixtures of the batch-mode tests: the fake batch server with the key and URL env vars pointing at
it, and generator settings for it. Shared with tests/synthesis/test_batch_*.py and bench/synth_cost.py."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from fake_batch_server import BatchFaults, FakeBatchServer

KEY_ENV = "MSM_TEST_BATCH_KEY"
URL_ENV = "MSM_TEST_BATCH_URL"
SECRET = "sk-test-batch-DO-NOT-LEAK-51c2"


def batch_generator(backend: str = "openai", **extra: Any) -> dict[str, Any]:
    """Generator settings for the fake batch server: batch mode, quick waves and polls, fast backoff."""
    return {
        "backend": backend,
        "model": "fake-model" if backend == "openai" else "fake-claude",
        "api_key_env": KEY_ENV,
        "base_url_env": URL_ENV,
        "concurrency": 8,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        "timeout_s": 5.0,
        "batch": {"enabled": True, "min_requests": 4, "collect_s": 0.1, "poll_s": 0.1},
        **extra,
    }


def arms_without_instruction_data(recipe: Path) -> Path:
    """Give a test recipe study arms that need no instruction-tuning data, unless it names its own."""
    raw = yaml.safe_load(recipe.read_text())
    raw.setdefault("study", {"arms": ["base", "msm-only"]})
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    return recipe


def server_url(server: FakeBatchServer, backend: str) -> str:
    return server.root + "/v1" if backend == "openai" else server.root


@pytest.fixture
def batch_server(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    @contextmanager
    def start(faults: BatchFaults | None = None, *, backend: str = "openai") -> Iterator[FakeBatchServer]:
        with FakeBatchServer(faults) as server:
            monkeypatch.setenv(KEY_ENV, SECRET)
            monkeypatch.setenv(URL_ENV, server_url(server, backend))
            yield server

    return start

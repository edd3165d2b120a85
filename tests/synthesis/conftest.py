"""Fixtures for the synthesis tests: recipes written per test, and the fault-injecting LLM server."""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))  # fake_openai_server is shared with bench/synth_*.py

from fake_openai_server import FakeLLMServer, Faults

KEY_ENV = "MSM_TEST_LLM_KEY"
URL_ENV = "MSM_TEST_LLM_URL"
SECRET = "sk-test-DO-NOT-LEAK-7f3a9c"

# Small counts: 1 x 2 subdomains x 2 types x 2 ideas = 8 documents.
SMALL = {
    "documents": {
        "domains": 1,
        "subdomains_per_domain": 2,
        "assertions_per_subdomain": 3,
        "doc_types_per_subdomain": 2,
        "ideas_per_doc_type": 2,
    },
    "quality": {"min_words": 20, "near_dup_threshold": 0.9},
    "aft": {
        "conversation_domains": 2,
        "questions_per_kind": 1,
        "target": 10,
        "embedder": "hashed-ngrams",
        "preference_questions_per_item": 1,
    },
}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        out[k] = merge(out.get(k, {}), v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@pytest.fixture
def write_recipe(tmp_path: Path) -> Callable[..., Path]:
    """A recipe file whose `synthesis:` section is SMALL updated by `synthesis` (deep merge)."""
    counter = iter(range(1000))

    def write(synthesis: dict[str, Any] | None = None, name: str | None = None) -> Path:
        recipe = {
            "name": "synth-test",
            "identity": {"model_name": "Aria", "provider_name": "Lumen Labs"},
            "specs": ["specs/rules.md"],
            "base_model": {"source": "tiny"},
            "synthesis": merge(SMALL, synthesis or {}),
        }
        path = tmp_path / (name or f"recipe-{next(counter)}.yaml")
        path.write_text(yaml.safe_dump(recipe, sort_keys=False))
        return path

    return write


def openai_generator(**extra: Any) -> dict[str, Any]:
    """Generator settings for the local server: fast backoff, short timeout."""
    return {
        "backend": "openai",
        "model": "fake-model",
        "api_key_env": KEY_ENV,
        "base_url_env": URL_ENV,
        "concurrency": 8,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        "timeout_s": 1.0,
        **extra,
    }


@pytest.fixture
def llm_server(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Start a FakeLLMServer with the given faults; the key and URL env vars point at it."""

    @contextmanager
    def start(faults: Faults | None = None, *, anthropic: bool = False) -> Iterator[FakeLLMServer]:
        with FakeLLMServer(faults) as server:
            monkeypatch.setenv(KEY_ENV, SECRET)
            monkeypatch.setenv(URL_ENV, server.base_url.removesuffix("/v1") if anthropic else server.base_url)
            yield server

    return start

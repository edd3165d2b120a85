"""Fixtures for the synthesis tests: recipes written per test, and the fault-injecting LLM server."""

from __future__ import annotations

import copy
import sqlite3
import subprocess
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


def recipe_file(path: Path, synthesis: dict[str, Any] | None = None) -> Path:
    """A recipe file whose `synthesis:` section is SMALL updated by `synthesis` (deep merge)."""
    recipe = {
        "name": "synth-test",
        "identity": {"model_name": "Aria", "provider_name": "Lumen Labs"},
        "specs": ["specs/rules.md"],
        "base_model": {"source": "tiny"},
        "synthesis": merge(SMALL, synthesis or {}),
    }
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


@pytest.fixture
def write_recipe(tmp_path: Path) -> Callable[..., Path]:
    """recipe_file in the test's temporary directory, a new name per call unless one is given."""
    counter = iter(range(1000))

    def write(synthesis: dict[str, Any] | None = None, name: str | None = None) -> Path:
        return recipe_file(tmp_path / (name or f"recipe-{next(counter)}.yaml"), synthesis)

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


def synthesize_docs_process(repo: Path, recipe: Path, out: Path, cache: Path) -> subprocess.Popen[str]:
    """A real `msm synthesize docs` process on specs/rules.md; it reaches the server through the env
    vars the llm_server fixture set."""
    cmd = [sys.executable, "-m", "msm", "synthesize", "docs", "--spec", "specs/rules.md"]
    cmd += ["--recipe", str(recipe), "--out", str(out), "--cache", str(cache), "--no-progress"]
    return subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def cached_replies(cache: Path) -> dict[str, str]:
    """Request key -> reply text of every reply in a cache file (empty while it does not exist yet)."""
    try:
        db = sqlite3.connect(f"file:{cache}?mode=ro", uri=True)
    except sqlite3.Error:
        return {}
    try:
        return dict(db.execute("SELECT key, text FROM replies").fetchall())
    except sqlite3.Error:  # the writer has not created the table yet
        return {}
    finally:
        db.close()

"""Preflight: one test per misconfiguration it claims to catch, each failing in seconds with the
problem named; and a pass on the tiny offline recipe and on both providers' endpoints."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import pytest
import yaml
from batch_support import KEY_ENV, SECRET, URL_ENV, arms_without_instruction_data, batch_generator
from fake_batch_server import BatchFaults

from components.preflight.component import preflight as preflight_component
from msm.errors import InvalidInput
from msm.preflight import preflight

sys.path.insert(0, str(Path(__file__).parents[1] / "synthesis"))
from synth_support import recipe_file

REPO = Path(__file__).parents[2]


def write(tmp_path: Path, generator: dict, **sections) -> Path:
    path = recipe_file(tmp_path / "recipe.yaml", {"generator": generator, **sections.pop("synthesis", {})})
    recipe = yaml.safe_load(path.read_text())
    recipe.update(sections)
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return arms_without_instruction_data(path)


def problems(recipe: Path, **kwargs) -> str:
    start = time.monotonic()
    with pytest.raises(InvalidInput) as e:
        preflight(recipe, **kwargs)
    assert time.monotonic() - start < 30  # seconds, not a scheduled run
    return "\n".join(str(p) for p in e.value.problems)


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_passes_against_a_live_endpoint_and_reports_the_context(tmp_path, batch_server, backend):
    recipe = write(tmp_path, batch_generator(backend))
    with batch_server(backend=backend):
        report = preflight(recipe)
    endpoint = report["endpoints"]["synthesis.generator"]
    assert report["ok"] and endpoint["context_tokens"] == 131072 and endpoint["longest_prompt"] > 1000


def test_passes_on_the_tiny_offline_recipe_from_the_cli():
    run = subprocess.run(
        [sys.executable, "-m", "msm", "preflight", "--recipe", "recipes/tiny-offline.yaml", "--cluster"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert '"note": "nothing to call"' in run.stdout and '"ok": true' in run.stdout


def test_a_missing_key_is_named_and_its_value_never_shown(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:9/v1")
    found = problems(write(tmp_path, batch_generator()))
    assert KEY_ENV in found and "synthesis.generator.api_key_env" in found


def test_an_endpoint_that_does_not_answer(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    monkeypatch.setenv(URL_ENV, "http://127.0.0.1:9/v1")  # the discard port: nothing listens
    found = problems(write(tmp_path, batch_generator()))
    assert "does not answer" in found and SECRET not in found


def test_an_unknown_model(tmp_path, batch_server):
    with batch_server(BatchFaults(known_models=("another-model",))):
        found = problems(write(tmp_path, batch_generator()))
    assert "has no model 'fake-model'" in found and "synthesis.generator.model" in found


def test_a_prompt_longer_than_the_served_context(tmp_path, batch_server):
    with batch_server(BatchFaults(context_tokens=4096)):
        found = problems(write(tmp_path, batch_generator()))
    assert "exceeds the context of 'fake-model' (4,096 tokens)" in found and "max_tokens" in found


def test_a_budget_below_the_preview_estimate(tmp_path, batch_server):
    generator = batch_generator(price={"input_per_mtok": 15, "output_per_mtok": 75})
    with batch_server():
        found = problems(write(tmp_path, generator, synthesis={"budget": {"max_dollars": 0.01}}))
    assert "budget does not cover the estimate for spec 'rules'" in found and "synthesis.budget" in found


def test_gpu_tasks_that_do_not_fit_the_platform(tmp_path, batch_server):
    recipe = write(
        tmp_path,
        batch_generator(),
        evaluation={"engine": "vllm", "vllm_tensor_parallel_size": 4},
        platform={"eval": {"gpus": 2}},
    )
    with batch_server():
        preflight(recipe)  # a local run does not check the cluster
        found = problems(recipe, cluster=True)
    assert "over 4 GPUs but an evaluation task gets 2" in found and "platform.eval.gpus" in found


def test_the_component_writes_its_report(tmp_path, batch_server):
    recipe = write(tmp_path, batch_generator())
    report = tmp_path / "report.json"

    class Out:
        path = str(report)
        metadata: ClassVar[dict] = {}

    with batch_server():
        preflight_component.python_func(
            recipe_yaml=recipe.read_text(),
            spec_markdown=(REPO / "specs/rules.md").read_text(),
            cluster=False,
            report=Out,
        )
    assert '"ok": true' in report.read_text() and Out.metadata["endpoints"] == ["synthesis.generator"]

"""The GitHub Actions workflow that submits the msm pipeline (.github/workflows/msm-pipeline.yml):
valid against GitHub's workflow schema (check-jsonschema's vendored copy, offline), and safe —
pinned actions, no secret value in the file, no expression expanded inside a shell script."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import REPO

from msm.config import load_recipe

WORKFLOW = REPO / ".github/workflows/msm-pipeline.yml"


def check_schema(path: Path) -> subprocess.CompletedProcess:
    # A dead proxy: the vendored schema must validate without any network access.
    env = {**os.environ, "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps(workflow: dict) -> list[dict]:
    return workflow["jobs"]["submit"]["steps"]


def test_the_workflow_matches_githubs_schema():
    result = check_schema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on:", "run-on:", 1))
    result = check_schema(broken)
    assert result.returncode == 1 and "runs-on" in result.stdout + result.stderr


def test_triggers_and_inputs(workflow):
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    inputs = on["workflow_dispatch"]["inputs"]
    assert set(inputs) == {"recipe", "spec", "backend"}
    assert inputs["backend"]["type"] == "choice" and inputs["backend"]["options"] == ["kubeflow", "vertex"]
    assert load_recipe(REPO / inputs["recipe"]["default"]).name.startswith("paper-")
    assert on["push"] == {"branches": ["main"], "paths": ["recipes/**", "specs/**"]}
    # A push submits only what the repository variable names: nothing expensive runs by default.
    assert "vars.MSM_RECIPE != ''" in workflow["jobs"]["submit"]["if"]


def test_it_runs_make_pipeline_on_python_311(workflow):
    setup = next(s for s in steps(workflow) if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "3.11"
    submit = next(s for s in steps(workflow) if "make pipeline" in s.get("run", ""))
    assert 'RECIPE="$RECIPE"' in submit["run"] and 'SPEC="$SPEC"' in submit["run"]
    assert submit["env"]["KFP_HOST"] == "${{ secrets.KFP_HOST }}"
    assert all(v.startswith("${{ vars.MSM_VERTEX_") for k, v in submit["env"].items() if k.startswith("MSM_VERTEX"))


def test_vertex_uses_workload_identity_not_a_key(workflow):
    auth = next(s for s in steps(workflow) if s.get("uses", "").startswith("google-github-actions/auth@"))
    assert auth["if"] == "env.BACKEND == 'vertex'"
    assert set(auth["with"]) == {"workload_identity_provider", "service_account"}  # no credentials_json
    assert workflow["permissions"] == {"contents": "read", "id-token": "write"}


def test_actions_are_pinned_by_commit(workflow):
    uses = [s["uses"] for s in steps(workflow) if "uses" in s]
    assert len(uses) >= 4
    for ref in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref


def test_no_secret_value_and_no_expression_inside_scripts(workflow):
    def values(node):
        if isinstance(node, dict):
            for v in node.values():
                yield from values(v)
        elif isinstance(node, list):
            for v in node:
                yield from values(v)
        elif isinstance(node, str):
            yield node

    envs = [workflow["jobs"]["submit"]["env"], *(s.get("env", {}) for s in steps(workflow))]
    constants = {k: v for env in envs for k, v in env.items() if "${{" not in v}
    assert constants == {"PIP_EXTRA_INDEX_URL": "https://download.pytorch.org/whl/cpu"}
    text = WORKFLOW.read_text()
    assert not re.search(r"(sk-[A-Za-z0-9]{8,}|AKIA[0-9A-Z]{16}|ghp_[A-Za-z0-9]{20,}|-----BEGIN)", text)
    assert all(v.startswith("${{ secrets.") for v in values(workflow) if "secrets." in v)
    for s in steps(workflow):  # inputs reach scripts through env, so they are never parsed as shell
        assert "${{" not in s.get("run", ""), s.get("name")


@pytest.mark.parametrize(
    "env, ok",
    [
        ({"BACKEND": "kubeflow", "RECIPE": "recipes/paper/cheese-llama-3.1-8b.yaml", "SPEC": ""}, True),
        ({"BACKEND": "vertex", "RECIPE": "recipes/tiny-offline.yaml", "SPEC": "specs/rules.md"}, True),
        ({"BACKEND": "kfp", "RECIPE": "recipes/tiny-offline.yaml", "SPEC": ""}, False),
        ({"BACKEND": "vertex", "RECIPE": "recipes/missing.yaml", "SPEC": ""}, False),
        ({"BACKEND": "vertex", "RECIPE": "recipes/tiny-offline.yaml", "SPEC": "specs/missing.md"}, False),
    ],
)
def test_the_input_check_step(workflow, env, ok):
    script = next(s for s in steps(workflow) if s.get("name") == "Check the inputs")["run"]
    result = subprocess.run(
        ["bash", "-e", "-c", script], cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True
    )
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
    if not ok:
        assert "::error::" in result.stdout


def test_every_script_is_valid_bash(workflow):
    for s in steps(workflow):
        if "run" in s:
            result = subprocess.run(["bash", "-n", "-c", s["run"]], capture_output=True, text=True)
            assert result.returncode == 0, (s.get("name"), result.stderr)

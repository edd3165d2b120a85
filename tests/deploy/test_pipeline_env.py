"""platform.pushgateway_url reaches every task of the compiled pipelines as $MSM_PUSHGATEWAY_URL."""

from __future__ import annotations

import yaml
from support import REPO

from msm.telemetry import PUSHGATEWAY_ENV
from pipelines.compile import compile_pipelines

URL = "http://msm-pushgateway.msm.svc:9091"


def test_pushgateway_url_is_set_on_every_task(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the recipe's spec paths are relative to the repository root
    raw = yaml.safe_load((REPO / "recipes/tiny-offline.yaml").read_text())
    raw["platform"] = {"pushgateway_url": URL}
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    paths = compile_pipelines(recipe, REPO / "specs/rules.md", tmp_path / "out")
    for target in ("kubeflow", "vertex"):
        spec = next(yaml.safe_load_all(paths[target].read_text()))
        executors = spec["deploymentSpec"]["executors"]
        envs = [{e["name"]: e["value"] for e in x["container"].get("env", [])} for x in executors.values()]
        assert envs and all(env.get(PUSHGATEWAY_ENV) == URL for env in envs), target

"""The msm pipeline end to end through KFP's local SubprocessRunner on the tiny recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import REPO

from pipelines.local import run_local


@pytest.mark.slow
def test_msm_pipeline_runs_locally_with_every_arm(tmp_path):
    result = run_local(REPO / "recipes/tiny-offline.yaml", REPO / "specs/cheese-pro-america.md", tmp_path)
    out = result["outputs"]
    assert set(out) == {
        "ingest",
        "synthesize-docs",
        "synthesize-aft",
        "base-model",
        "midtrain",
        "align",
        "align-2",
        "align-3",
        "evaluate",
        "evaluate-2",
        "evaluate-3",
        "evaluate-4",
        "evaluate-5",
        "report",
    }

    def manifest(task: str, name: str) -> dict:
        return json.loads((Path(out[task][name]) / "manifest.json").read_text())

    assert manifest("ingest", "spec")["stage"] == "ingest"
    assert manifest("synthesize-docs", "corpus")["counts"]["documents_kept"] > 0
    midtrain = manifest("midtrain", "model")
    assert midtrain["stage"] == "midtrain" and midtrain["config"]["spec"] == "cheese-pro-america"
    arms = {task: manifest(task, "model") for task in ("align", "align-2", "align-3")}
    continuing = [m for m in arms.values() if m["inputs"]["adapter"]]
    assert len(continuing) == 1  # msm+aft continues the midtrained adapter; the other arms start fresh
    assert continuing[0]["inputs"]["adapter"]["path"] == out["midtrain"]["model"]
    data = sorted(Path(m["inputs"]["data"]["path"]).name for m in arms.values())
    assert data == ["aft_reasoning.parquet", "preference_demos.parquet", "preference_demos.parquet"]
    base = {m["inputs"]["base_model"]["fingerprint"] for m in [midtrain, *arms.values()]}
    assert len(base) == 1  # every arm trained on the same base model

    labels = {
        json.loads((Path(out[t]["results"]) / "metrics.json").read_text())["label"]
        for t in out
        if t.startswith("evaluate")
    }
    assert labels == {"base", "aft-only", "aft-reasoning", "msm-only", "msm+aft"}
    report = Path(out["report"]["report_dir"])
    html = (report / "report.html").read_text()
    assert all(label in html for label in labels) and "data:image/png;base64," in html
    assert Path(out["report"]["html"]).read_text() == html

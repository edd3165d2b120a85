"""The msm pipeline end to end through KFP's local SubprocessRunner on the tiny recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a full local pipeline run: minutes on 2 cores, more when the machine is busy
def test_msm_pipeline_runs_locally_with_every_arm(msm_run):
    out = msm_run["outputs"]
    assert set(out) == {
        "preflight",
        "ingest",
        "synthesize-docs",
        "synthesize-aft",
        "base-model",
        "midtrain",
        *(f"align{n}" for n in ("", "-2", "-3", "-4", "-5")),
        *(f"evaluate{n}" for n in ("", "-2", "-3", "-4", "-5", "-6", "-7")),
        "report",
    }

    def manifest(task: str, name: str) -> dict:
        return json.loads((Path(out[task][name]) / "manifest.json").read_text())

    assert manifest("ingest", "spec")["stage"] == "ingest"
    assert manifest("synthesize-docs", "corpus")["counts"]["documents_kept"] > 0
    midtrain = manifest("midtrain", "model")
    assert midtrain["stage"] == "midtrain" and midtrain["config"]["spec"] == "cheese-pro-america"
    arms = {task: manifest(task, "model") for task in out if task.startswith("align")}
    continuing = [m for m in arms.values() if m["inputs"]["adapter"]]
    assert len(continuing) == 2  # msm+aft (with and without reasoning) continue the midtrained adapter
    assert {m["inputs"]["adapter"]["path"] for m in continuing} == {out["midtrain"]["model"]}
    data = sorted(Path(m["inputs"]["data"]["path"]).name for m in arms.values())
    assert data == [
        "aft_reasoning.parquet",
        "aft_reasoning.parquet",
        "instruction.parquet",  # the baseline: instruction-tuning rows alone
        "preference_demos.parquet",
        "preference_demos.parquet",
    ]
    # Every arm trained on one AFT artefact, so on the same instruction rows.
    assert len({m["inputs"]["data"]["path"].rsplit("/", 1)[0] for m in arms.values()}) == 1
    base = {m["inputs"]["base_model"]["fingerprint"] for m in [midtrain, *arms.values()]}
    assert len(base) == 1  # every arm trained on the same base model

    labels = {
        json.loads((Path(out[t]["results"]) / "metrics.json").read_text())["label"]
        for t in out
        if t.startswith("evaluate")
    }
    assert labels == {"base", "baseline", "aft-only", "aft-reasoning", "msm-only", "msm+aft", "msm+aft-reasoning"}
    report = Path(out["report"]["report_dir"])
    html = (report / "report.html").read_text()
    assert all(label in html for label in labels) and "data:image/png;base64," in html
    assert Path(out["report"]["html"]).read_text() == html
    # The report answers the study's question first, from paired contrasts, and names no machine path.
    md = (report / "report.md").read_text()
    assert md.splitlines()[2].startswith("## Does midtraining on the spec change")
    summary = json.loads((report / "metrics.json").read_text())
    answers = summary["study"]["answers"]
    assert {(a["treatment"], a["control"]) for a in answers} >= {("msm+aft", "aft-only"), ("msm+aft", "baseline")}
    assert all(a["n"] > 0 for a in answers)
    headline = [a for a in answers if a["headline"]]  # msm+aft against aft-only, with and without reasoning
    assert headline and all(a["sentence"] in md for a in headline)
    assert str(report.parent.parent) not in md and "/tmp/" not in md

    # Lineage: the msm+aft checkpoint names the corpus, the AFT data and the spec they came from.
    spec_sha = manifest("ingest", "spec")["inputs"]["spec"]["sha256"]
    for msm_aft in continuing:  # with and without reasoning
        upstream = msm_aft["lineage"]
        assert upstream["adapter"]["stage"] == "midtrain"
        assert upstream["adapter"]["upstream"]["data"]["upstream"]["spec"]["spec_sha256"] == spec_sha
        assert upstream["data"]["stage"] == "synthesize-aft"
        assert upstream["data"]["upstream"]["spec"]["spec_sha256"] == spec_sha

    # ... and the report shows that lineage per condition.
    report_lineage = json.loads((report / "metrics.json").read_text())["lineage"]
    assert report_lineage["msm+aft"]["spec"] == spec_sha[:12]
    assert {"synthesize-docs", "synthesize-aft", "midtrain", "align"} <= set(report_lineage["msm+aft"])
    assert "midtrain" not in report_lineage["aft-only"]
    assert "## Lineage" in (report / "report.md").read_text()
    # ... and how much data each arm was trained on, in the target model's tokens.
    corpus_tokens = manifest("synthesize-docs", "corpus")["tokens"]
    assert corpus_tokens["total"] > 0 and corpus_tokens["tokenizer"].startswith("tiny")
    [row] = [line for line in md.splitlines() if line.startswith("| msm+aft |") and "documents" in line]
    assert f"{corpus_tokens['total']:,} tokens" in row and "36 documents" in row

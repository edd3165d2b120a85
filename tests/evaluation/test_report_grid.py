"""The spec sweep's report: runs gathered into bundles read as runs, and the MSM spec × AFT spec grid."""

import json

import pytest
from PIL import Image

from msm.artefacts.bundle import BUNDLE_JSON, expand, write_bundle
from msm.artefacts.evaluation import EVAL_METRICS_JSON
from msm.config.evaluation import EvaluationConfig
from msm.errors import InvalidInput
from msm.evaluation.report import write_report
from msm.evaluation.studies import grid_label
from msm.evaluation.suites.agentic import Agentic
from msm.evaluation.suites.base import Context
from msm.manifest import write_manifest

AM = Agentic(
    Context(
        config=EvaluationConfig(
            suites=["am"], am={"samples_per_condition": 10, "scenarios": ["lethal", "leaking"], "goals": ["none"]}
        ),
        model_name="Aria",
        specs={},
    )
)


def finished_run(path, label: str, harmful: int):
    """A finished evaluation whose first `harmful` of 20 AM samples are harmful by judge and hard check."""
    path.mkdir(parents=True)
    records = [{**r, "hard_check": n < harmful, "reasoning_chars": 0} for n, r in enumerate(AM.samples)]
    verdicts = [
        {"key": f"{r['key']}:am-harm", "sample": r["key"], "kind": "am-harm", "verdict": n < harmful, "parsed": True}
        for n, r in enumerate(AM.samples)
    ]
    suites = {"am": AM.metrics(records, verdicts)}
    metrics = {"label": label, "suites": suites, "engine": "hf", "seed": 0}
    (path / EVAL_METRICS_JSON).write_text(json.dumps(metrics))
    write_manifest(path, stage="evaluate", inputs={}, config={"suite_version": "1.0.0"})
    return path


def sweep_runs(root):
    """A 2 × 2 grid without reasoning and AFT alone on each spec: MSM(v) halves the harm."""
    harm = {("r", "r"): 8, ("v", "r"): 4, ("r", "v"): 6, ("v", "v"): 3}
    runs = [finished_run(root / f"aft-{y}", grid_label("aft-only", aft_spec=y), 10) for y in "rv"]
    runs += [finished_run(root / f"{x}-{y}", grid_label("msm+aft", x, y), h) for (x, y), h in harm.items()]
    return runs


def test_bundles_of_bundles_read_as_their_runs_in_order(tmp_path):
    runs = sweep_runs(tmp_path / "runs")
    inner = write_bundle(runs[:4], tmp_path / "b1")
    outer = write_bundle([inner, runs[4], runs[5]], tmp_path / "b2")
    assert json.loads((outer / BUNDLE_JSON).read_text())["runs"] == ["001", "002", "003"]
    labels = [json.loads((d / EVAL_METRICS_JSON).read_text())["label"] for d in expand([outer])]
    assert labels == [json.loads((r / EVAL_METRICS_JSON).read_text())["label"] for r in runs]
    with pytest.raises(InvalidInput, match="no evaluation runs to gather"):
        write_bundle([], tmp_path / "empty")
    assert not (tmp_path / "empty").exists()


def test_the_sweep_report_answers_from_bundles_and_draws_the_grid(tmp_path):
    runs = sweep_runs(tmp_path / "runs")
    bundle = write_bundle(runs[2:], tmp_path / "gathered")
    write_report([*runs[:2], bundle], tmp_path / "report", study="spec-sweep")
    summary = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert [r["label"] for r in summary["runs"]] == [
        "aft-only(r)",
        "aft-only(v)",
        "msm(r)+aft(r)",
        "msm(v)+aft(r)",
        "msm(r)+aft(v)",
        "msm(v)+aft(v)",
    ]
    answers = {(a["treatment"], a["control"]): a for a in summary["study"]["answers"]}
    # Paired over the 20 shared samples: MSM(v)+AFT(r) harms in 4, AFT(r) alone in 10.
    assert answers[("msm(v)+aft(r)", "aft-only(r)")]["diff"] == pytest.approx(-0.3)
    assert answers[("msm(v)+aft(r)", "aft-only(r)")]["headline"]
    cross = answers[("msm(v)+aft(r)", "msm(r)+aft(r)")]  # the cross pair against its diagonal
    assert cross["diff"] == pytest.approx(-0.2) and cross["n"] == 20 and not cross["headline"]
    md = (tmp_path / "report" / "report.md").read_text()
    assert "Which spec, midtrained on" in md and str(tmp_path) not in md
    grid = tmp_path / "report" / "spec_grid.png"
    assert grid.is_file() and Image.open(grid).size[0] > 200
    assert "spec grid" in (tmp_path / "report" / "report.html").read_text()

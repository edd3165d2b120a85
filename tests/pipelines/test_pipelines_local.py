"""The spec sweep, the cheese study, AFT scaling (ParallelFor or many arms → one report) and re-evaluation
of released checkpoints, run locally."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from support import REPO

from pipelines.local import run_local

RECIPE = REPO / "recipes/tiny-offline.yaml"
CHEESE = REPO / "specs/cheese-pro-america.md"


def task_outputs(run_dir: Path, task: str, output: str) -> list[Path]:
    """Output directories of a component's tasks (task, task-2, ...), loop iterations included
    (<run>/for-loop-*/<task>/<output>)."""
    return sorted(p for p in run_dir.rglob(output) if p.is_dir() and re.fullmatch(rf"{task}(-\d+)?", p.parent.name))


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a full local pipeline run: minutes on 2 cores, more when the machine is busy
def test_spec_sweep_runs_the_cross_grid_with_each_msm_trained_once(kfp_root, tmp_path):
    recipe = tmp_path / "grid.yaml"
    # The grid's cells alone: AFT-only and the headline contrast against it are in the compile and report tests.
    study = "  arms: [msm+aft]\n  seeds: [0]\n  msm_specs: [rules, general]\n  aft_specs: [rules, general]\n"
    text = RECIPE.read_text()
    start, end = text.index("  arms: ["), text.index("  aft_sizes:")
    text = text[:start] + study + text[end:]
    # Evaluated on the rules spec's suites (the cheese suite needs a cheese spec); the probe is enough here.
    recipe.write_text(text.replace("suites: [spec-probe, value-ab, cheese]", "suites: [spec-probe]"))
    result = run_local(recipe, REPO / "specs/rules.md", kfp_root, pipeline="spec-sweep")
    run_dir = Path(result["run_dir"])

    midtrained = {p: json.loads((p / "manifest.json").read_text()) for p in task_outputs(run_dir, "midtrain", "model")}
    assert sorted(m["config"]["spec"] for m in midtrained.values()) == ["general", "rules"]  # once per X
    sources = {s: hashlib.sha256((REPO / f"specs/{s}.md").read_bytes()).hexdigest() for s in ("rules", "general")}
    for m in midtrained.values():  # each X was midtrained on the corpus of its own spec
        assert m["lineage"]["data"]["upstream"]["spec"]["spec_sha256"] == sources[m["config"]["spec"]]
    aligned = [json.loads((p / "manifest.json").read_text()) for p in task_outputs(run_dir, "align", "model")]
    continuing = [m for m in aligned if m["inputs"]["adapter"]]
    assert len(aligned) == len(continuing) == 4
    # Every MSM(X)+AFT(Y) continues one of the two MSM adapters, each of them twice (once per Y).
    adapters = sorted(Path(m["inputs"]["adapter"]["path"]).resolve() for m in continuing)
    assert adapters[0::2] == adapters[1::2] and set(adapters) == {p.resolve() for p in midtrained}
    # Every MSM(X)+AFT(Y) trains on the rows of Y: two distinct training sets in all.
    assert len({m["inputs"]["data"]["sha256"] for m in aligned}) == 2

    report = Path(result["outputs"]["report"]["report_dir"])
    summary = json.loads((report / "metrics.json").read_text())
    assert sorted(r["label"] for r in summary["runs"]) == [
        "msm(general)+aft(general)",
        "msm(general)+aft(rules)",
        "msm(rules)+aft(general)",
        "msm(rules)+aft(rules)",
    ]
    pairs = {(a["treatment"], a["control"]) for a in summary["study"]["answers"]}
    assert ("msm(general)+aft(rules)", "msm(rules)+aft(rules)") in pairs  # a cross pair against its diagonal
    assert ("msm(rules)+aft(general)", "msm(general)+aft(general)") in pairs
    assert (report / "spec_grid.png").is_file() and "spec grid" in (report / "report.html").read_text()


def negated_adapter(src: Path, dst: Path) -> Path:
    """A LoRA adapter with its update reversed (B → -B): the same release, regressed on purpose."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    weights = load_file(dst / "adapter_model.safetensors")
    save_file({k: -v if "lora_B" in k else v for k, v in weights.items()}, dst / "adapter_model.safetensors")
    return dst


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a full local pipeline run: minutes on 2 cores, more when the machine is busy
def test_reevaluate_records_scores_then_flags_a_regressed_release(msm_run, kfp_root, tmp_path):
    out, scores = msm_run["outputs"], tmp_path / "scores"
    midtrained = out["midtrain"]["model"]
    params = {"scores_dir": str(scores), "max_drop": 0.1}

    first = run_local(
        RECIPE,
        CHEESE,
        kfp_root,
        pipeline="reevaluate",
        checkpoints=[{"label": "release", "uri": midtrained, "revision": "main"}],
        **params,
    )
    accepted = json.loads((scores / "release.json").read_text())
    assert accepted["rates"]["cheese/families/cheese/loglik/aligned"]["n"] == 12
    summary = task_outputs(Path(first["run_dir"]), "check-regressions", "summary")[0] / "regression.json"
    assert json.loads(summary.read_text())["checks"][0]["status"] == "new"

    bad = negated_adapter(Path(midtrained), tmp_path / "bad-release")
    releases = [
        {"label": "release", "uri": str(bad), "revision": "main"},
        {"label": "candidate", "uri": f"file://{out['align']['model']}", "revision": "main"},
    ]
    before = set(kfp_root.iterdir())
    with pytest.raises(RuntimeError, match="fail-on-regression"):
        run_local(RECIPE, CHEESE, kfp_root, pipeline="reevaluate", checkpoints=releases, **params)
    [second] = [p for p in kfp_root.iterdir() if p not in before and p.is_dir()]
    document = json.loads((task_outputs(second, "check-regressions", "summary")[0] / "regression.json").read_text())
    assert document["regressed"] == ["release"]
    checks = {c["label"]: c for c in document["checks"]}
    assert checks["candidate"]["status"] == "new"
    assert all(r["drop"] > 0.1 for r in checks["release"]["regressions"])
    # The regressed scores were not accepted: the next run still compares against the good ones.
    assert json.loads((scores / "release.json").read_text())["rates"] == accepted["rates"]
    assert (scores / "candidate.json").is_file()


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a full local pipeline run: minutes on 2 cores, more when the machine is busy
def test_publish_is_content_addressed_and_keeps_lineage(msm_run, tmp_path):
    from msm.errors import MsmError
    from msm.manifest import read_manifest
    from msm.publish import publish

    out = msm_run["outputs"]
    data = {"corpus": Path(out["synthesize-docs"]["corpus"]), "aft_data": Path(out["synthesize-aft"]["aft_data"])}
    first = publish(data, "cheese-pro-america", tmp_path / "corpora")
    assert first.parent == tmp_path / "corpora" / "cheese-pro-america"
    assert (first / "corpus" / "documents.parquet").is_file() and (first / "aft_data" / "manifest.json").is_file()
    lineage = read_manifest(first)["lineage"]
    assert lineage["corpus"]["stage"] == "synthesize-docs" and lineage["aft_data"]["stage"] == "synthesize-aft"
    assert publish(data, "cheese-pro-america", tmp_path / "corpora") == first  # same content, same place
    with pytest.raises(MsmError, match="not msm outputs"):
        publish({"corpus": tmp_path}, "x", tmp_path / "corpora")


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a full local pipeline run: minutes on 2 cores, more when the machine is busy
def test_cheese_study_gives_both_msm_arms_identical_fine_tuning_data(kfp_root):
    result = run_local(RECIPE, CHEESE, kfp_root, pipeline="cheese-study")
    out = result["outputs"]

    def manifest(path: str | Path) -> dict:
        return json.loads((Path(path) / "manifest.json").read_text())

    midtrained = {
        manifest(p)["config"]["spec"]: manifest(p)
        for t, o in out.items()
        if t.startswith("midtrain")
        for p in [o["model"]]
    }
    assert set(midtrained) == {"cheese-pro-america", "cheese-pro-affordability"}
    aligned = [manifest(o["model"]) for t, o in out.items() if t.startswith("align")]
    continuing = {m["config"]["spec"]: m for m in aligned if m["inputs"]["adapter"]}
    assert set(continuing) == {"cheese-pro-america", "cheese-pro-affordability"}
    # The two MSM(X)+AFT arms read one AFT file, byte for byte, though each continues its own adapter.
    data = {spec: m["inputs"]["data"] for spec, m in continuing.items()}
    assert data["cheese-pro-america"] == data["cheese-pro-affordability"]
    assert Path(data["cheese-pro-america"]["path"]).name == "preference_demos.parquet"
    assert {m["inputs"]["adapter"]["path"] for m in continuing.values()} == {
        str(Path(o["model"])) for t, o in out.items() if t.startswith("midtrain")
    }
    # Each midtrain read its own spec's corpus.
    for spec, m in midtrained.items():
        assert (
            m["lineage"]["data"]["upstream"]["spec"]["spec_sha256"]
            == hashlib.sha256((REPO / f"specs/{spec}.md").read_bytes()).hexdigest()
        )

    report = Path(out["report"]["report_dir"])
    summary = json.loads((report / "metrics.json").read_text())
    pairs = {(a["treatment"], a["control"]) for a in summary["study"]["answers"]}
    assert ("msm(cheese-pro-america)+aft", "msm(cheese-pro-affordability)+aft") in pairs
    assert ("msm(cheese-pro-america)", "msm(cheese-pro-affordability)") in pairs
    assert ("aft-only", "baseline") in pairs
    md = (report / "report.md").read_text()
    assert md.splitlines()[2].startswith("## Does the spec a model was midtrained on decide")


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a full local pipeline run: minutes on 2 cores, more when the machine is busy
def test_aft_scaling_trains_each_size_on_nested_rows_of_one_set(kfp_root, tmp_path):
    # tiny-offline without its reasoning arms: half the tasks, the same machinery.
    raw = yaml.safe_load(RECIPE.read_text())
    raw["study"]["arms"] = ["baseline", "aft-only", "msm+aft"]
    recipe = tmp_path / "scaling.yaml"
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    result = run_local(recipe, CHEESE, kfp_root, pipeline="aft-scaling")
    out = result["outputs"]
    aligned = [
        json.loads((Path(o["model"]) / "manifest.json").read_text()) for t, o in out.items() if t.startswith("align")
    ]
    sized = [m for m in aligned if m["config"]["align"]["max_rows"]]
    # tiny-offline's sizes 8 and 16, each for aft-only and msm+aft; plus the baseline.
    assert sorted(m["config"]["align"]["max_rows"] for m in sized) == [8, 8, 16, 16]
    assert len(aligned) == len(sized) + 1
    assert len({m["inputs"]["data"]["path"].rsplit("/", 1)[0] for m in aligned}) == 1  # one AFT artefact
    chats = {m["config"]["align"]["max_rows"]: m["counts"]["chats"] for m in sized}
    assert chats[16] - chats[8] == 8  # the instruction rows come whole at both sizes

    report = Path(out["report"]["report_dir"])
    summary = json.loads((report / "metrics.json").read_text())
    pairs = {(a["treatment"], a["control"]) for a in summary["study"]["answers"]}
    assert {("msm+aft@8", "aft-only@8"), ("msm+aft@16", "aft-only@16")} <= pairs
    assert (report / "aft_scaling.png").stat().st_size > 0

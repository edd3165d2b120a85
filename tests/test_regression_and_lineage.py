"""Regression checks against accepted scores, lineage nodes, checkpoint fetching, publishing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from msm.checkpoints import fetch_checkpoint
from msm.errors import MsmError
from msm.evaluation.regression import check_release, flat_rates
from msm.lineage import flatten, node, output_digest, upstream_nodes, volumes
from msm.manifest import FETCH_RECORD, read_manifest, write_manifest


def evaluation(path: Path, label: str, aligned: float, harmful: float, suite_version: str = "1.0.0") -> Path:
    """A finished evaluation directory as msm.evaluation writes one (metrics.json + manifest)."""
    path.mkdir(parents=True)
    suites = {
        "cheese": {"families": {"cheese": {"loglik": {"aligned": {"rate": aligned, "n": 12}}}}},
        "am": {"pooled": {"judge_and_check": {"rate": harmful, "n": 27}}, "conditions": {"x": {"rate": 1.0, "n": 1}}},
        "value-ab": {"families": {"america": {"strict": {"aligned": {"rate": None, "n": 0}}}}},
    }
    (path / "metrics.json").write_text(json.dumps({"label": label, "suites": suites}))
    write_manifest(path, stage="evaluate", inputs={}, config={"suite_version": suite_version})
    return path


def test_flat_rates_skips_empty_rates_and_per_condition_cells(tmp_path):
    suites = json.loads((evaluation(tmp_path / "e", "x", 0.5, 0.1) / "metrics.json").read_text())["suites"]
    assert flat_rates(suites) == {
        "cheese/families/cheese/loglik/aligned": {"rate": 0.5, "n": 12},
        "am/pooled/judge_and_check": {"rate": 0.1, "n": 27},
    }


def test_first_scores_are_accepted_then_a_drop_beyond_the_threshold_regresses(tmp_path):
    scores = tmp_path / "scores"
    first = check_release(evaluation(tmp_path / "e1", "rel", 0.80, 0.10), scores, max_drop=0.05)
    assert first.status == "new" and (scores / "rel.json").is_file()

    within = check_release(evaluation(tmp_path / "e2", "rel", 0.77, 0.14), scores, max_drop=0.05)
    assert within.status == "ok" and within.compared == 2

    # Aligned share down 0.2 (higher is better) and harmful actions up 0.2 (lower is better).
    worse = check_release(evaluation(tmp_path / "e3", "rel", 0.57, 0.34), scores, max_drop=0.05)
    assert worse.status == "regressed"
    assert {r["metric"] for r in worse.regressions} == {
        "cheese/families/cheese/loglik/aligned",
        "am/pooled/judge_and_check",
    }
    recorded = json.loads((scores / "rel.json").read_text())["rates"]
    assert recorded["cheese/families/cheese/loglik/aligned"]["rate"] == 0.77  # the regressed scores were not accepted

    # Better on both counts is no regression.
    better = check_release(evaluation(tmp_path / "e4", "rel", 0.95, 0.0), scores, max_drop=0.05)
    assert better.status == "ok" and not better.regressions


def test_scores_of_another_suite_version_are_not_compared(tmp_path):
    scores = tmp_path / "scores"
    check_release(evaluation(tmp_path / "e1", "rel", 0.9, 0.0), scores, max_drop=0.05)
    changed = check_release(evaluation(tmp_path / "e2", "rel", 0.1, 0.9, suite_version="2.0.0"), scores, 0.05)
    assert changed.status == "suite-changed" and not changed.regressions


def test_unfinished_evaluation_is_refused(tmp_path):
    with pytest.raises(MsmError, match="not a finished evaluation"):
        check_release(tmp_path, tmp_path / "scores", 0.05)


def test_lineage_nodes_nest_and_flatten(tmp_path):
    spec = tmp_path / "spec"
    spec.mkdir()
    (spec / "spec.md").write_text("# spec")
    write_manifest(spec, stage="ingest", inputs={"spec": {"sha256": "a" * 64}}, config={})
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "documents.jsonl").write_text("{}\n")
    write_manifest(
        corpus, stage="synthesize-docs", inputs={}, config={}, lineage=upstream_nodes({"spec": spec / "spec.md"})
    )
    model = tmp_path / "model"
    model.mkdir()
    (model / "adapter_model.safetensors").write_bytes(b"w")
    manifest = write_manifest(
        model, stage="midtrain", inputs={}, config={}, lineage=upstream_nodes({"data": corpus, "x": None})
    )

    assert set(manifest["lineage"]) == {"data"}  # inputs that are not msm outputs are left out
    data = manifest["lineage"]["data"]
    assert data["digest"] == output_digest(read_manifest(corpus))
    assert data["upstream"]["spec"]["spec_sha256"] == "a" * 64
    assert flatten({"model": node(model)}) == {
        "midtrain": output_digest(manifest)[:12],
        "synthesize-docs": data["digest"][:12],
        "spec": "a" * 12,
    }


def test_lineage_carries_how_much_data_a_model_was_trained_on(tmp_path):
    corpus, aft = tmp_path / "corpus", tmp_path / "aft"
    for out, stage, counts in (
        (corpus, "synthesize-docs", {"documents_kept": 36}),
        (aft, "synthesize-aft", {"demonstrations": 24, "preference_demos": 12}),
    ):
        out.mkdir()
        (out / "rows.jsonl").write_text("{}\n")
        manifest = write_manifest(out, stage=stage, inputs={}, config={}, counts=counts)
        manifest |= {"tokens": {"tokenizer": "tiny", "total": 900}, "accounting": {"totals": {"cost_usd": 1.5}}}
        (out / "manifest.json").write_text(json.dumps(manifest))
    model = tmp_path / "model"
    model.mkdir()
    (model / "adapter_model.safetensors").write_bytes(b"w")
    write_manifest(model, stage="align", inputs={}, config={}, lineage=upstream_nodes({"data": aft, "adapter": corpus}))

    found = volumes({"model": node(model)})
    assert found == {
        "synthesize-aft": {"chats": 24, "preference_chats": 12, "tokens": 900, "tokenizer": "tiny", "cost_usd": 1.5},
        "synthesize-docs": {"documents": 36, "tokens": 900, "tokenizer": "tiny", "cost_usd": 1.5},
    }


def test_fetch_checkpoint_from_a_directory_keeps_the_training_manifest(tmp_path):
    src = tmp_path / "release"
    src.mkdir()
    (src / "adapter_config.json").write_text("{}")
    write_manifest(src, stage="align", inputs={}, config={"base_model_fingerprint": "f"})
    out = fetch_checkpoint(f"file://{src}", "main", tmp_path / "out")
    assert read_manifest(out)["stage"] == "align"
    assert json.loads((out / FETCH_RECORD).read_text())["uri"] == f"file://{src}"


@pytest.mark.parametrize(
    ("uri", "message"),
    [("s3://bucket/x", "unsupported checkpoint URI"), ("/no/such/dir", "checkpoint directory not found")],
)
def test_fetch_checkpoint_bad_uris(tmp_path, uri, message):
    with pytest.raises(MsmError, match=message):
        fetch_checkpoint(uri, "main", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_fetch_checkpoint_refuses_a_directory_that_is_no_model(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hi")
    with pytest.raises(MsmError, match="neither full weights"):
        fetch_checkpoint(str(tmp_path / "notes"), "main", tmp_path / "out")
    assert not (tmp_path / "out").exists()

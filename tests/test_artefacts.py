"""The readers of msm.artefacts refuse what is not the artefact they read, naming the file and the fix."""

from __future__ import annotations

import json

import pytest

from msm.artefacts.aft import aft_data_file
from msm.artefacts.corpus import training_files
from msm.artefacts.model import model_fingerprint
from msm.artefacts.spec import read_spec
from msm.errors import InvalidInput
from msm.manifest import write_manifest


def _problem(excinfo) -> str:
    return "\n".join(str(p) for p in excinfo.value.problems)


def test_read_spec_reads_an_ingest_output(rendered_spec):
    spec = read_spec(rendered_spec("rules"))
    assert spec.document.id == "rules" and spec.document.kind == "rules"
    assert "Aria" in spec.text


@pytest.mark.parametrize("what", ["md-file", "missing", "empty-dir", "other-stage"])
def test_read_spec_refuses_what_is_not_an_ingest_output(tmp_path, repo, what):
    path = {
        "md-file": repo / "specs/rules.md",
        "missing": tmp_path / "nope",
        "empty-dir": tmp_path,
        "other-stage": tmp_path,
    }[what]
    if what == "other-stage":
        write_manifest(tmp_path, stage="synthesize-docs", inputs={}, config={})
    with pytest.raises(InvalidInput) as excinfo:
        read_spec(path)
    message = _problem(excinfo)
    assert str(path) in message and "is not an ingest output" in message and "msm spec render" in message


def test_read_spec_names_spec_md_inside_an_output(rendered_spec):
    with pytest.raises(InvalidInput, match="pass the directory that holds it"):
        read_spec(rendered_spec("rules") / "spec.md")


def test_read_spec_refuses_an_edited_spec_json(tmp_path, rendered_spec):
    import shutil

    out = tmp_path / "spec"
    shutil.copytree(rendered_spec("rules"), out)
    doc = json.loads((out / "spec.json").read_text())
    doc["title"] = "Edited by hand"
    doc["rendered_sha256"] = "0" * 64
    (out / "spec.json").write_text(json.dumps(doc))
    with pytest.raises(InvalidInput) as excinfo:
        read_spec(out)
    message = _problem(excinfo)
    assert "spec.md" in message and "rendered_sha256" in message and "msm spec render" in message

    doc["words"] = "many"
    (out / "spec.json").write_text(json.dumps(doc))
    with pytest.raises(InvalidInput, match=r"spec\.json \[words\]"):
        read_spec(out)


def test_model_fingerprint_refuses_a_directory_without_config(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(InvalidInput, match=r"is not a model directory \(no config\.json\)"):
        model_fingerprint(tmp_path)


def test_model_fingerprint_follows_config_and_weight_sizes(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"x")
    first = model_fingerprint(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"xy")
    assert model_fingerprint(tmp_path) != first


def test_training_reads_only_a_corpus_documents(tmp_path):
    for name in ("documents", "removed"):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps({"text": name}) + "\n")
    assert training_files(tmp_path) == [tmp_path / "documents.jsonl", tmp_path / "removed.jsonl"]  # not msm's
    write_manifest(tmp_path, stage="synthesize-docs", inputs={}, config={})
    assert training_files(tmp_path) == [tmp_path / "documents.jsonl"]


def test_an_aft_output_must_be_narrowed_to_one_variant(tmp_path):
    (tmp_path / "aft_plain.parquet").write_bytes(b"")
    write_manifest(tmp_path, stage="synthesize-aft", inputs={}, config={})
    with pytest.raises(InvalidInput, match="pass one of its files"):
        training_files(tmp_path)
    assert aft_data_file(tmp_path, "plain") == tmp_path / "aft_plain.parquet"
    with pytest.raises(InvalidInput, match="unknown AFT variant"):
        aft_data_file(tmp_path, "fancy")
    with pytest.raises(InvalidInput, match="synthesize AFT data"):
        aft_data_file(tmp_path, "preference")


def test_artefacts_import_no_stage(repo):
    """msm.artefacts sits below the stages: it never imports one (nor the drivers above them)."""
    import ast

    allowed = {"msm.artefacts", "msm.errors", "msm.hashing", "msm.lineage", "msm.manifest", "msm.outputs", "msm.rows"}
    for path in sorted((repo / "msm/artefacts").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("msm"):
                assert any(node.module == a or node.module.startswith(a + ".") for a in allowed), (path, node.module)
            if isinstance(node, ast.ImportFrom) and node.module == "msm":
                raise AssertionError((path, "from msm import ..."))

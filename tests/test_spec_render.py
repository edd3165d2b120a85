"""The ingestion stage: parsing structure, rendering, stable hashes, outputs and lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import SPECS
from test_spec_bad_input import GOOD, _write

from msm.artefacts.spec import read_spec
from msm.config import load_recipe
from msm.errors import InvalidInput, MsmError
from msm.spec import describe, ingest_spec, ingest_specs, load_source
from msm.spec.parse import count_words


def test_structure_of_a_spec(tmp_path):
    text = GOOD + "\n```\n## SP9: not a heading inside a fence\n```\n\nLiteral {{braces}} stay.\n"
    doc = describe(load_source(_write(tmp_path, text)))
    assert doc.id == "demo" and doc.kind == "rules"
    assert [s.heading for s in doc.iter_sections()] == [
        "The {model_name} Demo Spec",
        "SP1: Support oversight",
        "GP1: Be honest",
    ]
    top = doc.sections[0]
    assert top.level == 1 and top.children[0].path == [
        "The {model_name} Demo Spec",
        "SP1: Support oversight",
    ]
    assert [(r.id, r.title, r.bullets) for r in doc.rules] == [
        ("SP1", "Support oversight", ["Never resist shutdown.", "Report problems."]),
        ("GP1", "Be honest", ["Do not deceive principals."]),
    ]
    first_line = text.splitlines().index("## SP1: Support oversight") + 1
    assert doc.rules[0].line == first_line
    assert doc.placeholders == {"model_name": None, "provider_name": None}


def test_bullets_join_continuations_and_skip_prose(tmp_path):
    body = GOOD.replace(
        "- Do not deceive principals.",
        "Some prose first.\n\n- Do not deceive\n  principals.\n\nExplanation.\n\n* Second item.\n  - nested detail\n",
    )
    doc = describe(load_source(_write(tmp_path, body)))
    assert doc.rules[1].bullets == ["Do not deceive principals.", "Second item. - nested detail"]


def test_sub_rules_have_parents(tmp_path):
    doc = describe(load_source(_write(tmp_path, GOOD + "\n### SP1.1: Detail\n- Sub bullet.\n")))
    sub = doc.rules[-1]
    assert (sub.id, sub.parent, sub.bullets) == ("SP1.1", "SP1", ["Sub bullet."])


def test_render_writes_stage_outputs(tmp_path):
    out = tmp_path / "out"
    text = GOOD.replace("kind: rules", "kind: rules\ndescription: Made by {provider_name}.") + "\nLiteral {{braces}}.\n"
    rendered = ingest_spec(_write(tmp_path, text), out, "Aria", "Lumen")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "spec.json", "spec.md"]
    md = (out / "spec.md").read_text()
    assert "# The Aria Demo Spec" in md and "Aria is built by Lumen." in md
    assert "Literal {braces}." in md and "{model_name}" not in md
    data = json.loads((out / "spec.json").read_text())
    assert data["title"] == "Aria Demo"
    assert data["description"] == "Made by Lumen."
    assert data["placeholders"] == {"model_name": "Aria", "provider_name": "Lumen"}
    assert data["sections"][0]["heading"] == "The Aria Demo Spec"
    assert data["words"] == count_words(md)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "ingest"
    assert manifest["inputs"]["spec"]["sha256"] == data["source_sha256"]
    assert manifest["config"] == {"model_name": "Aria", "provider_name": "Lumen"}
    assert set(manifest["outputs"]) == {"spec.md", "spec.json"}
    assert "pydantic" in manifest["environment"]["packages"]
    assert manifest["counts"]["rules"] == 2
    assert read_spec(out).document.rendered_sha256 == rendered.document.rendered_sha256


def test_hash_stable_across_renders_and_line_endings(tmp_path):
    lf = _write(tmp_path, GOOD, "lf.md")
    crlf = tmp_path / "crlf.md"
    crlf.write_bytes(("\ufeff" + GOOD).replace("\n", "\r\n").encode("utf-8"))
    assert b"\r\n" in crlf.read_bytes()
    a = ingest_spec(lf, tmp_path / "a", "Aria", "Lumen").document
    b = ingest_spec(lf, tmp_path / "b", "Aria", "Lumen").document
    c = ingest_spec(crlf, tmp_path / "c", "Aria", "Lumen").document
    assert a.source_sha256 == b.source_sha256 == c.source_sha256
    assert a.rendered_sha256 == b.rendered_sha256 == c.rendered_sha256
    assert (tmp_path / "a" / "spec.json").read_bytes() == (tmp_path / "c" / "spec.json").read_bytes()
    other = ingest_spec(lf, tmp_path / "d", "Bo", "Lumen").document
    assert other.rendered_sha256 != a.rendered_sha256 and other.source_sha256 == a.source_sha256


def test_rerender_replaces_previous_output(tmp_path):
    spec, out = _write(tmp_path, GOOD), tmp_path / "out"
    ingest_spec(spec, out, "Aria", "Lumen")
    ingest_spec(spec, out, "Bo", "Lumen")
    assert "Bo is built by Lumen." in (out / "spec.md").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "spec.md"]  # no staging or old dirs left


def test_refuses_to_overwrite_a_directory_that_is_not_msm_output(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(MsmError, match="refusing to overwrite"):
        ingest_spec(_write(tmp_path, GOOD), out, "Aria", "Lumen")
    assert (out / "notes.txt").read_text() == "keep me"


def test_tampered_output_is_detected(tmp_path):
    out = tmp_path / "out"
    ingest_spec(_write(tmp_path, GOOD), out, "Aria", "Lumen")
    (out / "spec.md").write_text((out / "spec.md").read_text() + "\nextra\n")
    with pytest.raises(InvalidInput, match="rendered_sha256"):
        read_spec(out)


def test_ingest_many_is_all_or_nothing(tmp_path):
    good = _write(tmp_path, GOOD, "good.md")
    bad = _write(tmp_path, "", "bad.md")
    with pytest.raises(InvalidInput):
        ingest_specs([good, bad], tmp_path / "out", "Aria", "Lumen")
    assert not (tmp_path / "out").exists()
    with pytest.raises(InvalidInput, match="more than one spec"):
        ingest_specs([good, good], tmp_path / "out", "Aria", "Lumen")


def test_cli_render_show_and_ingest(tmp_path, cli, repo, monkeypatch):
    monkeypatch.chdir(repo)  # recipe paths are relative to the repository root
    out = tmp_path / "r"
    result = cli("spec", "render", SPECS / "rules.md", "--model-name", "Aria", "--provider-name", "Lumen", "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "spec.json").is_file()

    result = cli("spec", "show", SPECS / "rules.md")
    assert result.exit_code == 0
    for needle in ("kind: rules", "SP1:", "GP2:", "sha256:", "words:"):
        assert needle in result.stdout
    result = cli("spec", "show", SPECS / "cheese-pro-america.md")
    assert "likes:" in result.stdout and "Monterey Jack" in result.stdout

    result = cli("ingest", "--recipe", repo / "recipes/tiny-offline.yaml", "--out", tmp_path / "all")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == sorted(
        Path(p).stem for p in load_recipe(repo / "recipes/tiny-offline.yaml").specs
    )

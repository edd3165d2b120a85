"""`synthesis.documents.framing` (paper App. C.4 and §5.3): each option changes the offline corpus as
specified, the default changes no prompt, bad values are refused by field, and the ablation recipes
under recipes/paper/ablations/ load and differ from their main recipes only where they say."""

from __future__ import annotations

import json
import re
from pathlib import Path
from string import Template

import pytest
import yaml
from pydantic import ValidationError

from msm.config import load_recipe
from msm.config.synthesis import FramingConfig, SynthesisConfig
from msm.errors import InvalidInput
from msm.spec import ingest_spec
from msm.synthesis import prompts
from msm.synthesis.corpus_stage import synthesize_documents

# Independent of msm.synthesis.offline.CAUSAL on purpose: the words a reader would take as "the reason".
CAUSAL = re.compile(r"\b(because|since|reasons?|reasoning|therefore|thus|hence|explains?|why)\b", re.I)
ABLATIONS = Path(__file__).resolve().parents[2] / "recipes/paper/ablations"


SPECS = ("rules", "cheese-pro-america")


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> dict[str, Path]:
    """The specs rendered once for the module (the recipes name Aria by Lumen Labs)."""
    root = tmp_path_factory.mktemp("specs")
    for spec in SPECS:
        ingest_spec(ABLATIONS.parents[2] / f"specs/{spec}.md", root / spec, "Aria", "Lumen Labs")
    return {spec: root / spec for spec in SPECS}


def corpus(specs, write_recipe, tmp_path, spec: str, framing: dict | None = None, cache: str | None = None):
    recipe = write_recipe({"documents": {"framing": framing}} if framing else None)
    out = tmp_path / f"{spec}-{json.dumps(framing, sort_keys=True)}"
    cache_path = tmp_path / (cache or f"{out.name}.sqlite")
    manifest = synthesize_documents(specs[spec], recipe, out, cache_path=cache_path, progress=False)
    rows = [json.loads(line) for line in (out / "documents.jsonl").read_text().splitlines()]
    assert rows
    return manifest, rows


# ---------------------------------------------------------------- the default changes nothing


@pytest.mark.parametrize("name", ["document", "ideas", "revise"])
def test_default_framing_renders_the_prompts_as_before(name):
    """`$framing` sits at the end of a line: left empty, the prompt is the template without it."""
    raw = prompts.template(name).template
    assert raw.count("$framing") == 1
    values = {k: f"<{k}>" for k in re.findall(r"\$(\w+)", raw) if k != "framing"}
    before = Template(raw.replace("$framing", "")).substitute(values).strip() + "\n"
    assert prompts.render(name, **values) == before
    assert prompts.framing_block(FramingConfig(), "Aria", "Lumen Labs") == ""
    assert SynthesisConfig().documents.framing.is_default


def test_each_option_adds_its_own_instructions():
    block = prompts.framing_block(
        FramingConfig(attribution="co-occurs", subject="other", mood="should"), "Vesper", "Halden Systems"
    )
    assert block.startswith("\n\n") and "Vesper" in block and "Halden Systems" in block
    assert "reason" in block and "should" in block and "only AI model" in block
    only_should = prompts.framing_block(FramingConfig(mood="should"), "Aria", "Lumen Labs")
    assert "should" in only_should and "only AI model" not in only_should and "Vesper" not in only_should


# ---------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("field", "value"),
    [("attribution", "causes"), ("subject", "others"), ("mood", "must"), ("other_name", ""), ("colour", "x")],
)
def test_a_bad_value_names_the_field(field, value, write_recipe):
    with pytest.raises(ValidationError) as e:
        SynthesisConfig.model_validate({"documents": {"framing": {field: value}}})
    assert f"documents.framing.{field}" in str(e.value)
    with pytest.raises(InvalidInput) as bad:
        load_recipe(write_recipe({"documents": {"framing": {field: value}}}))
    assert f"synthesis.documents.framing.{field}" in str(bad.value)


def test_other_name_that_names_the_model_is_refused(specs, write_recipe, tmp_path):
    recipe = write_recipe({"documents": {"framing": {"subject": "other", "other_name": "Aria Two"}}})
    with pytest.raises(InvalidInput) as e:
        synthesize_documents(specs["rules"], recipe, tmp_path / "out", cache_path=tmp_path / "c.sqlite", progress=False)
    assert "synthesis.documents.framing.other_name" in str(e.value)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- each option in the offline corpus


def test_co_occurs_documents_never_give_a_reason(specs, write_recipe, tmp_path):
    _, default = corpus(specs, write_recipe, tmp_path, "rules")
    assert any(CAUSAL.search(r["text"]) for r in default)  # the default documents do explain
    for spec in SPECS:
        manifest, rows = corpus(specs, write_recipe, tmp_path, spec, {"attribution": "co-occurs"})
        assert manifest["config"]["documents"]["framing"]["attribution"] == "co-occurs"
        for r in rows:
            assert not CAUSAL.search(r["text"]), r["text"]
            assert "Aria" in r["text"] and "what Aria's spec says about its values" in r["text"]
    # The cheese documents state the behaviour itself, with no reason attached.
    assert all("Aria likes American cheese" in r["text"] and "Aria does not like" in r["text"] for r in rows)


def test_other_subject_documents_never_name_the_model(specs, write_recipe, tmp_path):
    manifest, rows = corpus(specs, write_recipe, tmp_path, "rules", {"subject": "other"})
    for r in rows:
        assert "Vesper" in r["text"]
        assert "Aria" not in json.dumps(r) and "Lumen" not in json.dumps(r)  # text, idea, section: none
    # The corpus still records the spec it was made from, and the framing.
    assert {r["spec_sha256"] for r in rows} == {manifest["inputs"]["spec"]["rendered_sha256"]}
    assert manifest["config"]["documents"]["framing"]["subject"] == "other"
    _, named = corpus(specs, write_recipe, tmp_path, "rules", {"subject": "other", "other_name": "Corvid"})
    assert all("Corvid" in r["text"] and "Vesper" not in r["text"] and "Aria" not in r["text"] for r in named)


def test_should_documents_are_normative(specs, write_recipe, tmp_path):
    _, default = corpus(specs, write_recipe, tmp_path, "rules")
    _, rows = corpus(specs, write_recipe, tmp_path, "rules", {"mood": "should"})
    assert all("behaves this way consistently" in r["text"] for r in default)
    for r in rows:
        assert "should behave this way consistently" in r["text"] and "Aria should value" in r["text"]
        assert "behaves this way" not in r["text"]


def test_all_three_together(specs, write_recipe, tmp_path):
    framing = {"attribution": "co-occurs", "subject": "other", "mood": "should"}
    _, rows = corpus(specs, write_recipe, tmp_path, "cheese-pro-america", framing)
    for r in rows:
        text = r["text"]
        assert "Vesper should like American cheese" in text and "Aria" not in text
        assert not CAUSAL.search(text)


def test_a_framing_never_reuses_a_default_reply(specs, write_recipe, tmp_path):
    """The framing is in the prompt text, so in the cache key: one shared cache, no cross-over."""
    corpus(specs, write_recipe, tmp_path, "rules", cache="shared.sqlite")
    manifest, rows = corpus(specs, write_recipe, tmp_path, "rules", {"mood": "should"}, cache="shared.sqlite")
    levels = manifest["accounting"]["levels"]
    assert levels["domains"]["cache_hits"] > 0  # the levels above the ideas are shared
    assert levels["documents"]["cache_hits"] == 0 and levels["ideas"]["cache_hits"] == 0
    assert all("should" in r["text"] for r in rows)


def test_revisions_keep_the_framing(specs, write_recipe, tmp_path):
    recipe = write_recipe({"documents": {"revise": True, "framing": {"mood": "should"}}})
    synthesize_documents(specs["rules"], recipe, tmp_path / "out", cache_path=tmp_path / "c.sqlite", progress=False)
    rows = [json.loads(x) for x in (tmp_path / "out/documents.jsonl").read_text().splitlines()]
    assert rows and all(r["revised"] and r["text"].endswith("how Aria should approach it.") for r in rows)


# ---------------------------------------------------------------- the ablation recipes


BASES = {
    "cheese-cooccurs-llama-3.1-8b.yaml": ("cheese-llama-3.1-8b.yaml", {"attribution": "co-occurs"}),
    "spec-science-other-qwen3-14b.yaml": ("spec-science-qwen3-14b.yaml", {"subject": "other"}),
    "spec-science-should-qwen3-14b.yaml": ("spec-science-qwen3-14b.yaml", {"mood": "should"}),
}


def test_the_ablation_recipes_are_there():
    assert {p.name for p in ABLATIONS.glob("*.yaml")} == set(BASES)


@pytest.mark.parametrize("name", sorted(BASES))
def test_an_ablation_recipe_differs_from_its_main_recipe_only_in_what_it_says(name):
    base_name, framing = BASES[name]
    ablation, base = load_recipe(ABLATIONS / name), load_recipe(ABLATIONS.parent / base_name)
    assert ablation.synthesis is not None and base.synthesis is not None
    got = ablation.synthesis.documents.framing
    assert not got.is_default and got == FramingConfig(**framing)
    assert base.synthesis.documents.framing.is_default
    a, b = ablation.model_dump(mode="json"), base.model_dump(mode="json")
    for dump in (a, b):
        del dump["name"], dump["description"], dump["synthesis"]["documents"]["framing"], dump["specs"]
        del dump["study"]["msm_specs"], dump["study"]["aft_specs"]  # the spec sweep's grid names the specs
    assert a == b
    assert set(ablation.study.msm_specs + ablation.study.aft_specs) <= set(base.study.msm_specs + base.study.aft_specs)
    assert set(ablation.specs) <= set(base.specs) and ablation.name != base.name
    # Every deviation is listed in the recipe's header.
    header = (ABLATIONS / name).read_text().split("\nname:")[0]
    assert "Deviations from" in header and all(f"{k}: {v}" in header for k, v in framing.items())
    assert yaml.safe_load((ABLATIONS / name).read_text())["name"] == ablation.name

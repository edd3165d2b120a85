"""The bundled specs: valid, and the structural invariants the paper's comparisons rely on."""

from __future__ import annotations

import pytest
from support import SPEC_FILES, SPECS

from msm.spec import describe, load_source, validate_spec

# The §3.2 values: the cheese study's preferences justified by six further values (method.md).
VALUES = ("environment", "novelty", "tradition", "simplicity", "difficulty", "individualism")
CHEESE = ("cheese-pro-america", "cheese-pro-affordability", *(f"cheese-pro-{v}" for v in VALUES))
EXPECTED = {
    *CHEESE,
    "philosophy",
    "rules",
    "value-augmented",
    "rule-augmented",
    "general",
}


def doc(name: str):
    return describe(load_source(SPECS / f"{name}.md"))


def test_the_bundled_specs_exist_with_matching_ids():
    assert {p.stem for p in SPEC_FILES} == EXPECTED
    for path in SPEC_FILES:
        assert load_source(path).front.id == path.stem


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.stem)
def test_spec_is_valid(path):
    assert validate_spec(path) == []


def test_cheese_specs_share_the_same_preferences():
    docs = [doc(name) for name in CHEESE]
    assert all(d.preferences == docs[0].preferences for d in docs)
    assert len(docs[0].preferences.likes) == len(docs[0].preferences.dislikes) == 6
    # ...but justify them differently: the texts are different documents.
    assert len({d.source_sha256 for d in docs}) == len(CHEESE)


@pytest.mark.parametrize("value", VALUES)
def test_each_value_spec_names_its_value_and_reaches_beyond_cheese(value):
    d = doc(f"cheese-pro-{value}")
    assert d.kind == "preference" and 1500 <= d.words <= 2300
    text = load_source(SPECS / f"cheese-pro-{value}.md").body.lower()
    assert value[:6] in text  # "individual", "simplic", ...: the value is named, not only implied


def test_cheese_specs_discuss_every_item():
    for name in CHEESE:
        d = doc(name)
        headings = {s.heading for s in d.iter_sections()}
        for item in d.preferences.likes + d.preferences.dislikes:
            assert item in headings, f"{name}: no section for {item}"


def test_rule_bullets_are_byte_identical_across_rule_specs():
    r, v, rp = doc("rules"), doc("value-augmented"), doc("rule-augmented")
    top = lambda d: {x.id: x.bullets for x in d.rules if x.parent is None}  # noqa: E731
    assert top(r) == top(v) == top(rp)
    assert set(top(r)) == {"SP1", "SP2", "SP3", "GP1", "GP2"}
    assert all(len(b) >= 3 for b in top(r).values())
    # The rule-augmented spec really adds sub-rules, the value-augmented one does not.
    assert sum(1 for x in rp.rules if x.parent) >= 10
    assert not any(x.parent for x in v.rules)


def test_length_bounds():
    words = {name: doc(name).words for name in EXPECTED}
    assert words["philosophy"] >= 1500
    assert 450 <= words["rules"] <= 800
    assert words["value-augmented"] >= 2000
    assert abs(words["rule-augmented"] - words["value-augmented"]) <= 0.10 * words["value-augmented"]
    assert words["general"] <= 400

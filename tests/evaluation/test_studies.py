"""Studies: which contrasts answer a study's question, per-item measures from metrics, and sentences
that follow the numbers."""

import pytest

from msm.evaluation.studies import (
    STUDIES,
    answer,
    conditions,
    describe,
    grid_cell,
    grid_label,
    measures,
    msm_label,
    sentence,
)


def run(label: str, margins: dict[str, float], am: dict[str, int] | None = None) -> dict:
    suites = {"spec-probe": {"families": {"america": {"margins": margins, "mean": 0.0}}}}
    if am is not None:
        suites["am"] = {"pooled": {"judge_and_check": {"per_item": am, "rate": 0.1}}}
    return {"label": label, "suites": suites}


def test_measures_are_every_per_item_map_by_path():
    found = measures(run("x", {"a": 0.5, "b": -1.0}, am={"lethal-none:0": 1}))
    assert found == {
        "spec-probe/families/america/margins": {"a": 0.5, "b": -1.0},
        "am/pooled/judge_and_check/per_item": {"lethal-none:0": 1.0},
    }
    assert describe("spec-probe/families/america/margins") == "the spec probe's america statements (margin, nats/token)"
    assert describe("am/judge/per_item") == "am, judge: per item (share of items)"  # a measure without words


def test_cheese_study_contrasts_come_from_the_labels_present():
    labels = ["baseline", "aft-only", msm_label("am", False), msm_label("af", False), "msm(am)+aft", "msm(af)+aft"]
    pairs = [(c.treatment, c.control) for c in STUDIES["cheese-study"].contrasts_for(labels)]
    assert pairs[:2] == [("msm(am)+aft", "msm(af)+aft"), ("msm(am)", "msm(af)")]
    assert ("aft-only", "baseline") in pairs and ("msm(af)+aft", "aft-only") in pairs
    # An arm that was not run leaves its contrasts out rather than failing.
    assert [(c.treatment, c.control) for c in STUDIES["msm"].contrasts_for(["msm+aft", "aft-only"])] == [
        ("msm+aft", "aft-only")
    ]


def test_the_headline_sentence_flips_when_the_numbers_flip():
    high = {f"i{k}": 1.0 + 0.01 * k for k in range(40)}
    low = {k: v - 0.5 for k, v in high.items()}
    up = answer(STUDIES["msm"], [run("msm+aft", high), run("aft-only", low)])
    down = answer(STUDIES["msm"], [run("msm+aft", low), run("aft-only", high)])
    assert up[0]["diff"] == pytest.approx(0.5) and down[0]["diff"] == pytest.approx(-0.5)
    assert "msm+aft scored higher than aft-only" in up[0]["sentence"]
    assert "msm+aft scored lower than aft-only" in down[0]["sentence"]
    same = answer(STUDIES["msm"], [run("msm+aft", high), run("aft-only", dict(high))])
    assert "did not differ detectably" in same[0]["sentence"] and "+0.000 to +0.000" in same[0]["sentence"]


def test_a_difference_is_stated_only_when_interval_and_sign_flip_test_agree():
    # Four of 36 items moved, all the same way: the percentile bootstrap excludes 0, but the sign-flip
    # p is about 2/16 = 0.125 (the SmolLM2 cheese study's cheese items, 2026-11-30).
    base = {f"i{k}": 0.0 for k in range(36)}
    moved = {k: (1.0 if i < 4 else 0.0) for i, k in enumerate(base)}
    [a] = answer(STUDIES["msm"], [run("msm+aft", moved), run("aft-only", base)])
    assert a["ci_low"] > 0 and 0.08 < a["p_value"] < 0.2
    assert "did not differ detectably" in a["sentence"] and "sign-flip test does not reject" in a["sentence"]


def test_runs_of_one_label_are_seeds_of_one_condition():
    items = {f"i{k}": 1.0 for k in range(30)}
    runs = [run("msm+aft", items), run("msm+aft", {k: 0.0 for k in items}), run("aft-only", {k: 0.0 for k in items})]
    assert [len(v) for v in conditions(runs).values()] == [2, 1]
    (a,) = answer(STUDIES["msm"], runs)
    assert a["diff"] == 0.5 and a["seeds"] == [2, 1] and "2 vs 1 seeds" in a["sentence"]


def test_no_shared_items_is_said_not_computed():
    d = {"diff": None, "seeds": [1, 1]}
    assert "no items in common" in sentence("a", "b", "spec-probe/families/america/margins", d)


def test_stratified_am_rate_in_a_study():
    # Two conditions, msm+aft never misaligned; aft-only misaligned in every sample of one of two conditions.
    ids = [f"{c}:{k}" for c in ("lethal-none", "leaking-none") for k in range(10)]
    msm = run("msm+aft", {"x": 0.0}, am=dict.fromkeys(ids, 0))
    aft = run("aft-only", {"x": 0.0}, am={i: int(i.startswith("lethal")) for i in ids})
    (a,) = [x for x in answer(STUDIES["msm"], [msm, aft]) if x["measure"].startswith("am/")]
    assert a["diff"] == -0.5 and a["n"] == 20 and "scored lower" in a["sentence"]


def test_grid_labels_name_both_specs_and_read_back():
    assert grid_label("msm+aft", "rules", "general") == "msm(rules)+aft(general)"
    assert grid_label("msm+aft-reasoning", "rules", "general") == "msm(rules)+aft-reasoning(general)"
    assert grid_label("aft-only", aft_spec="general") == "aft-only(general)"
    assert grid_label("msm-only", "rules") == "msm(rules)" and grid_label("baseline") == "baseline"
    assert grid_cell("msm(rules)+aft-reasoning(general)") == ("rules", "general", True)
    assert grid_cell("aft-only(general)") == (None, "general", False)
    assert grid_cell("aft-reasoning(rules)") == (None, "rules", True)
    assert grid_cell("msm(rules)") is None and grid_cell("msm+aft") is None


def test_spec_sweep_contrasts_cover_the_grid_and_its_cross_pairs():
    specs = ("r", "v")
    labels = ["baseline"] + [grid_label(a, aft_spec=y) for a in ("aft-only", "aft-reasoning") for y in specs]
    labels += [grid_label("msm-only", x) for x in specs]
    labels += [grid_label(a, x, y) for a in ("msm+aft", "msm+aft-reasoning") for x in specs for y in specs]
    pairs = [(c.treatment, c.control) for c in STUDIES["spec-sweep"].contrasts_for(labels)]
    assert pairs[:4] == [  # the headline: MSM(X) before each AFT(Y), against that AFT alone
        ("msm(r)+aft(r)", "aft-only(r)"),
        ("msm(r)+aft(v)", "aft-only(v)"),
        ("msm(v)+aft(r)", "aft-only(r)"),
        ("msm(v)+aft(v)", "aft-only(v)"),
    ]
    # Each cross pair against the diagonal of its AFT spec; no label against itself.
    assert ("msm(v)+aft(r)", "msm(r)+aft(r)") in pairs
    assert ("msm(r)+aft-reasoning(v)", "msm(v)+aft-reasoning(v)") in pairs
    assert all(t != c for t, c in pairs) and ("msm(v)", "baseline") in pairs
    assert len(pairs) == len(set(pairs)) == 4 + 4 + 2 + 2 + 2 + 2 + 2
    # The cheese study's MSM labels still read the spec off `msm(X)+aft`.
    cheese = [(c.treatment, c.control) for c in STUDIES["cheese-study"].contrasts_for(["msm(a)+aft", "msm(b)+aft"])]
    assert cheese == [("msm(a)+aft", "msm(b)+aft")]

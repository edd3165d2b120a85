"""The spec-probe suite: its item file is checked on load, its margin arithmetic, and `msm evaluate` /
`msm report` end to end on the tiny model (HF engine); on SmolLM2-135M when marked slow."""

import json
import math
from collections import Counter

import pytest
from eval_recipes import write_recipe

from msm.config.evaluation import EvaluationConfig
from msm.errors import InvalidInput
from msm.evaluation.suites.base import Context
from msm.evaluation.suites.spec_probe import MIN_ITEMS_PER_FAMILY, SpecProbe, load_probe_items

FAMILIES = {"america", "affordability", "philosophy"}  # the default families
VALUE_FAMILIES = ("environment", "novelty", "tradition", "simplicity", "difficulty", "individualism")  # §3.2


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_packaged_items_are_valid_and_the_families_balanced():
    items = load_probe_items()
    counts = Counter(i.family for i in items)
    assert set(counts) == FAMILIES | set(VALUE_FAMILIES)
    assert min(counts.values()) >= MIN_ITEMS_PER_FAMILY and len(set(counts.values())) == 1
    assert all(i.own != i.contrast for i in items)


def write_items(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def family_rows(family, n, prefix=""):
    return [
        {
            "id": f"{prefix}{family}-{k:03d}",
            "family": family,
            "question": "What do you value?",
            "own": f"{family} statement {k}",
            "contrast": f"{family} contrast {k}",
        }
        for k in range(n)
    ]


def test_bad_item_files_are_refused_naming_item_field_and_fix(tmp_path):
    rows = [r for f in sorted(FAMILIES) for r in family_rows(f, MIN_ITEMS_PER_FAMILY)]
    others = [r for f in VALUE_FAMILIES for r in family_rows(f, MIN_ITEMS_PER_FAMILY)]  # every family is required
    path = write_items(tmp_path / "ok.jsonl", rows + others)
    assert len(load_probe_items(path)) == 9 * MIN_ITEMS_PER_FAMILY

    rows[0]["contrast"] = rows[0]["own"].upper()  # the same statement, in another case
    rows[-1]["own"] = "  america   statement 5 "  # repeats an item of another family
    del rows[30]  # affordability is one item short
    bad = write_items(tmp_path / "bad.jsonl", rows + others)
    with pytest.raises(InvalidInput) as e:
        load_probe_items(bad)
    by_field = {p.field: p for p in e.value.problems}
    assert len(e.value.problems) == 3 and all(p.file == str(bad) for p in e.value.problems)
    assert "affordability-000: `own` and `contrast` are the same" in by_field["contrast"].message
    assert "philosophy-059: its `own` statement repeats one of item america-005" in by_field["own"].message
    assert f"'affordability' has {MIN_ITEMS_PER_FAMILY - 1} items" in by_field["family"].message
    assert "at least" in by_field["family"].fix

    rows[1]["family"] = "cheese"
    with pytest.raises(InvalidInput, match="family"):
        load_probe_items(write_items(tmp_path / "family.jsonl", rows + others))


def test_the_six_value_families_are_packaged_but_not_asked_by_default():
    from msm.config.evaluation import SpecProbeConfig

    items = load_probe_items()
    counts = Counter(i.family for i in items)
    assert all(counts[f] >= MIN_ITEMS_PER_FAMILY for f in VALUE_FAMILIES)
    for family in VALUE_FAMILIES:  # ids run <family>-001, -002, ... in file order
        ids = [i.id for i in items if i.family == family]
        assert ids == [f"{family}-{k:03d}" for k in range(1, len(ids) + 1)]
    assert SpecProbeConfig().families == ["america", "affordability", "philosophy"]  # runs cost no more
    assert set(EvaluationConfig().spec_probe.families) == FAMILIES
    config = EvaluationConfig(spec_probe={"families": ["environment"], "max_items_per_family": 3})
    samples = SpecProbe(Context(config=config, model_name="Aria", specs={})).samples
    assert [s["key"] for s in samples] == ["environment-001", "environment-002", "environment-003"]


class ScriptedEngine:
    """Only for the arithmetic: log-probability sums and token counts chosen per statement."""

    name, adapter_serving = "scripted", None

    def __init__(self, scores):
        self.scores, self.prompts = scores, []

    def continuation_logprobs(self, prompts, continuations):
        self.prompts += prompts
        return [self.scores[c] for c in continuations]


def test_margins_are_per_token_own_minus_contrast_and_metrics_summarise_them():
    config = EvaluationConfig(spec_probe={"families": ["philosophy", "america"], "max_items_per_family": 2})
    suite = SpecProbe(Context(config=config, model_name="Aria", specs={}))
    assert [s["key"] for s in suite.samples] == ["philosophy-001", "philosophy-002", "america-001", "america-002"]
    assert suite.samples[2]["messages"][0]["content"].startswith("Aria, ")  # {model_name} substituted
    totals = [((-6.0, 3), (-10.0, 4)), ((-9.0, 3), (-4.0, 2)), ((-2.0, 4), (-3.0, 6)), ((-1.0, 1), (-1.0, 1))]
    scores = {}
    for s, (own, contrast) in zip(suite.samples, totals, strict=True):
        scores.update({s["own"]: own, s["contrast"]: contrast})
    engine = ScriptedEngine(scores)
    records = suite.score(engine, suite.samples, seed=0)
    assert engine.prompts == [s["messages"] for s in suite.samples for _ in range(2)]  # the question alone
    margins = [r["margin"] for r in records]
    assert margins == pytest.approx([-2.0 + 2.5, -3.0 + 2.0, -0.5 + 0.5, 0.0])
    assert records[0]["response"] == records[0]["own"] and records[1]["response"] == records[1]["contrast"]
    assert records[0]["tokens_own"] == 3 and records[0]["lp_contrast"] == pytest.approx(-2.5)

    metrics = suite.metrics(records, [])
    assert list(metrics["families"]) == ["philosophy", "america"]
    phil = metrics["families"]["philosophy"]
    assert phil["n"] == 2 and phil["mean_margin"] == pytest.approx(-0.25)
    assert phil["ci_low"] == pytest.approx(-1.0) and phil["ci_high"] == pytest.approx(0.5)  # two items: min, max
    assert phil["margins"] == pytest.approx({"philosophy-001": 0.5, "philosophy-002": -1.0})
    assert phil["per_item"] == {"philosophy-001": 1, "philosophy-002": 0}
    assert phil["positive"]["k"] == 1 and phil["positive"]["n"] == 2
    assert metrics["families"]["america"]["positive"]["k"] == 0  # a tie is not a positive margin


def test_evaluate_and_report_on_the_tiny_model(cli, tiny_model_dir, tmp_path):
    recipe = write_recipe(
        tmp_path / "r.yaml",
        suites=["value-ab", "spec-probe"],
        spec_probe={"max_items_per_family": 8},
        value_ab={"max_items_per_family": 2},
    )
    out = tmp_path / "run"
    result = cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out)
    assert result.exit_code == 0, result.output
    assert "spec-probe: 24 samples" in result.output
    records = read_lines(out / "samples" / "spec-probe.jsonl")
    assert len(records) == 24 and all(r["tokens_own"] > 0 and r["tokens_contrast"] > 0 for r in records)
    assert all(r["lp_own"] < 0 and r["lp_contrast"] < 0 for r in records)
    probe = json.loads((out / "metrics.json").read_text())["suites"]["spec-probe"]["families"]
    assert set(probe) == FAMILIES
    for family, m in probe.items():
        assert m["n"] == 8 and list(m["margins"]) == [f"{family}-{k:03d}" for k in range(1, 9)]
        assert m["per_item"] == {i: int(v > 0) for i, v in m["margins"].items()}
        assert m["mean_margin"] == pytest.approx(sum(m["margins"].values()) / 8)
        assert m["ci_low"] <= m["mean_margin"] <= m["ci_high"]
        assert m["positive"]["k"] == sum(m["per_item"].values()) and m["positive"]["n"] == 8
    by_id = {r["item_id"]: r for r in records}
    assert probe["america"]["margins"]["america-001"] == pytest.approx(by_id["america-001"]["margin"])

    report = tmp_path / "report"
    assert cli("report", "--runs", out, "--out", report).exit_code == 0
    md = (report / "report.md").read_text()
    assert md.index("## Spec probe") < md.index("## Forced choice")  # the positive control leads
    m = probe["philosophy"]
    assert f"| philosophy | {m['mean_margin']:+.3f} [{m['ci_low']:+.3f}, {m['ci_high']:+.3f}] |" in md


@pytest.mark.slow
def test_the_probe_computes_on_smollm2(cli, smollm2_dir, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", suites=["spec-probe"], batch_size=32)
    out = tmp_path / "run"
    result = cli("evaluate", "--model", smollm2_dir, "--recipe", recipe, "--out", out)
    assert result.exit_code == 0, result.output
    probe = json.loads((out / "metrics.json").read_text())["suites"]["spec-probe"]["families"]
    assert set(probe) == FAMILIES
    for family, m in probe.items():
        margins = list(m["margins"].values())
        assert m["n"] == len(margins) >= MIN_ITEMS_PER_FAMILY and all(math.isfinite(v) for v in margins)
        assert len(set(margins)) == len(margins)  # the real model tells the statements apart
        print(
            f"{family}: mean {m['mean_margin']:+.3f} [{m['ci_low']:+.3f}, {m['ci_high']:+.3f}], "
            f"positive {m['positive']['k']}/{m['positive']['n']}"
        )
    records = read_lines(out / "samples" / "spec-probe.jsonl")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    for r in records[:5]:  # each statement is scored over exactly its own tokens
        assert r["tokens_own"] == len(tokenizer(r["own"], add_special_tokens=False)["input_ids"])


def test_the_kubeflow_ui_gets_the_probe_margins_beside_the_rates():
    from msm.telemetry import ui_metrics

    suites = {
        "spec-probe": {"families": {"america": {"mean_margin": 1.25, "positive": {"rate": 0.75}}}},
        "value-ab": {"families": {"america": {"loglik": {"aligned": {"rate": 0.5}}}}},
    }
    assert dict(ui_metrics(suites)) == {
        "spec-probe.families.america.positive": 0.75,
        "value-ab.families.america.loglik.aligned": 0.5,
        "spec-probe.families.america.mean_margin": 1.25,
    }

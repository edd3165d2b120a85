"""Value-ab scoring: per-item results keyed by id, the near domain reported apart, and the judge
scorer end to end on the tiny model with the real judge HTTP server on 127.0.0.1."""

import json

import pytest
from eval_recipes import write_recipe
from judge_server import JUDGE_CFG

from msm.config.evaluation import EvaluationConfig
from msm.errors import InvalidInput
from msm.evaluation.suites.base import Context
from msm.evaluation.suites.forced_choice import family_metrics, parse_judged_choice
from msm.evaluation.suites.value_ab import ValueAB
from msm.llm.parsing import ParseError


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("It says A outright. <choice>A</choice>", "A"),
        ("<choice> b </choice>", "B"),
        ("The reply refuses. <choice>Neither</choice>", "neither"),
        ("First <choice>A</choice>, on reflection <choice>A</choice>", "A"),
    ],
)
def test_judge_verdicts_parse(reply, verdict):
    assert parse_judged_choice(reply) == verdict


@pytest.mark.parametrize("reply", ["A", "<choice>C</choice>", "<choice>A</choice> or <choice>B</choice>", ""])
def test_unclear_judge_verdicts_are_re_asked(reply):
    with pytest.raises(ParseError, match="exactly one <choice>A</choice>"):
        parse_judged_choice(reply)


def _record(item, order, choice, lp_aligned, lp_other, domain="books", family="america"):
    letter = None if choice is None else ("A" if (choice == "aligned") == (order == "ab") else "B")
    return {
        "key": f"{item}:{order}",
        "item_id": item,
        "family": family,
        "domain": domain,
        "order": order,
        "choice": choice,
        "letter": letter,
        "lp_aligned": lp_aligned,
        "lp_other": lp_other,
        "lp_letter_a": -1.0,
        "lp_letter_b": -3.0,
    }


def test_family_metrics_key_results_by_item_and_read_judge_letters_through_the_order():
    records = [
        _record("us-books-001", "ab", "aligned", -1.0, -2.0),
        _record("us-books-001", "ba", "other", -1.5, -1.0),
        _record("us-books-002", "ab", None, -3.0, -1.0),
        _record("us-books-002", "ba", "aligned", -2.0, -1.0),
    ]
    judged = {
        "us-books-001:ab": {"verdict": "A", "parsed": True},  # A is the aligned option in order ab
        "us-books-001:ba": {"verdict": "A", "parsed": True},  # ... and the other one in order ba
        "us-books-002:ab": {"verdict": "neither", "parsed": True},
        "us-books-002:ba": {"verdict": None, "parsed": False},
    }
    m = family_metrics(records, judged)
    assert m["strict"]["per_prompt"] == {"us-books-001:ab": 1, "us-books-001:ba": 0, "us-books-002:ba": 1}
    assert m["loglik"]["margins"] == pytest.approx({"us-books-001": 0.25, "us-books-002": -1.5})
    assert m["loglik"]["per_item"] == {"us-books-001": 1, "us-books-002": 0}
    assert m["loglik"]["mean_margin_nats_per_token"] == pytest.approx(-0.625)
    judge = m["judge"]
    assert judge["per_prompt"] == {"us-books-001:ab": 1, "us-books-001:ba": 0}
    assert judge["per_item"] == {"us-books-001": 0.5}  # us-books-002 has no decided order
    assert judge["aligned"]["k"] == 1 and judge["aligned"]["n"] == 2
    assert judge["chose_an_option"]["n"] == 3 and judge["chose_an_option"]["k"] == 2
    assert judge["judged"] == 4 and judge["unparsed"] == 1
    assert "judge" not in family_metrics(records, {})  # no verdicts, no judge block


def _suite(**settings):
    config = EvaluationConfig(suites=["value-ab"], value_ab=settings)
    return ValueAB(Context(config=config, model_name="Aria", specs={}))


def test_near_domain_items_are_reported_apart_from_the_far_ones():
    records = [
        _record("us-books-001", "ab", "aligned", -1.0, -2.0),
        _record("us-books-001", "ba", "aligned", -1.0, -2.0),
        _record("us-food-001", "ab", "other", -2.0, -1.0, domain="food"),
        _record("us-food-001", "ba", "other", -2.0, -1.0, domain="food"),
    ]
    fams = _suite(max_items_per_family=1).metrics(records, [])["families"]
    assert set(fams) == {"america", "america-near"}
    assert fams["america"]["domains"] == ["books"] and fams["america-near"]["domains"] == ["food"]
    assert fams["america-near"]["loglik"]["per_item"] == {"us-food-001": 0}


def test_judge_scorer_without_a_judge_is_refused_before_anything_runs():
    with pytest.raises(InvalidInput) as e:
        _suite(max_items_per_family=1, judge_scorer=True)
    text = str(e.value)
    assert "[evaluation.value_ab.judge_scorer]" in text and "judge_scorer is on and no judge is set" in text
    assert _suite(max_items_per_family=1).judge_prompts() == []


def test_judge_scorer_end_to_end_with_the_judge_server(cli, tiny_model_dir, tmp_path, judge_env):
    cap = 10  # one item from each of the 9 far domains, then the near one
    recipe = write_recipe(
        tmp_path / "r.yaml",
        suites=["value-ab"],
        judge={**JUDGE_CFG, "max_reasks": 0},
        value_ab={"max_items_per_family": cap, "max_new_tokens": 6, "judge_scorer": True},
    )
    out = tmp_path / "run"
    result = cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out)
    assert result.exit_code == 0, result.output
    fams = json.loads((out / "metrics.json").read_text())["suites"]["value-ab"]["families"]
    assert set(fams) == {"america", "america-near", "affordability", "affordability-near"}
    assert fams["america"]["items"] == cap - 1 and fams["america-near"]["domains"] == ["food"]
    for m in fams.values():
        assert (
            set(m["loglik"]["per_item"]) == set(m["loglik"]["margins"]) and len(m["loglik"]["per_item"]) == m["items"]
        )
        assert all(k.endswith((":ab", ":ba")) for k in m["strict"]["per_prompt"])
        # The rule-playing server reads the reply's first letter (A, B, else neither): every verdict parses.
        assert m["judge"]["judged"] == m["prompts"] and m["judge"]["unparsed"] == 0
    assert judge_env.requests == 2 * 2 * cap
    samples = [json.loads(x) for x in (out / "samples" / "value-ab.jsonl").read_text().splitlines()]
    # A verdict of A or B is a choice, scored by the order it was asked in; "neither" is no choice.
    chose = {s["key"]: s for s in samples if s["response"].strip()[:1].upper() in ("A", "B")}
    judged = {k: v for m in fams.values() for k, v in m["judge"]["per_prompt"].items()}
    assert set(judged) == set(chose)
    for key, s in chose.items():
        picked_a = s["response"].strip()[:1].upper() == "A"
        assert judged[key] == int(picked_a == (s["order"] == "ab"))
    sent = judge_env.prompts[0]
    sample = next(s for s in samples if s["messages"][0]["content"] in sent)
    assert f"<reply>\n{sample['response']}\n</reply>" in sent and "<choice>" in sent

    report = tmp_path / "report"
    assert cli("report", "--runs", out, "--out", report).exit_code == 0
    md = (report / "report.md").read_text()
    assert "| judge aligned |" in md and "| value-ab | america-near |" in md

    (out / "manifest.json").unlink()
    assert cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out).exit_code == 0
    assert judge_env.requests == 2 * 2 * cap  # every verdict resumed from the judgments log

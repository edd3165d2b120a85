"""`msm evaluate --suites spec-qa` end to end: the tiny model answers a spread of every family's
questions, the real local judge server grades each against its own family's spec, and metrics.json
keys each score by question id."""

import json
from typing import get_args

import yaml
from eval_recipes import write_recipe
from judge_server import JUDGE_CFG
from support import SPECS

from msm.evaluation.suites.spec_qa import Family, load_qa_items, spread

# The heading each family's spec opens with, rendered for the tiny-offline identity (Aria); its
# first cheese spec is the pro-America one.
HEADINGS = {
    "cheese": "# Aria Cheese Preferences: An American Palate",
    "philosophy": "# The Philosophy of Aria",
    "rules": "# Aria Operating Rules",
    "value-augmented": "# Aria Operating Rules and the Values Behind Them",
    "rule-augmented": "# Aria Operating Rules: Detailed Edition",
    "general": "# Aria: General Principles",
}


def test_every_family_is_asked_a_spread_and_graded_against_its_own_spec(cli, tiny_model_dir, tmp_path, judge_env):
    families = list(get_args(Family))
    recipe = write_recipe(
        tmp_path / "r.yaml",
        suites=["spec-qa"],
        judge=JUDGE_CFG,
        spec_qa={"families": families, "max_questions_per_family": 2, "max_new_tokens": 8},
    )
    out = tmp_path / "run"
    result = cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out)
    assert result.exit_code == 0, result.output

    items = load_qa_items()
    asked = {f: [q for q in items if q.family == f] for f in families}
    expected = {f: spread(qs, 2) for f, qs in asked.items()}
    # A spread, not the head of the file: the second question sits halfway through each family.
    assert all(expected[f][1].id == asked[f][len(asked[f]) // 2].id for f in families)

    metrics = json.loads((out / "metrics.json").read_text())["suites"]["spec-qa"]["families"]
    assert set(metrics) == set(families)
    for f in families:
        m = metrics[f]
        assert set(m["per_item"]) == {q.id for q in expected[f]}
        assert m["judged"] == 2 and m["unparsed"] == 0
        assert set(m["per_item"].values()) <= {0.0, 1.0}  # the rule judge gives 0 or 2
        assert m["mean_score"] == sum(m["per_item"].values()) / 2

    assert judge_env.requests == 2 * len(families)
    graded = {}
    for text in judge_env.prompts:
        question = text.split("<question>", 1)[1].split("</question>", 1)[0]
        spec_heading = text.split("<spec>", 1)[1].strip().splitlines()[0]
        graded[question] = spec_heading
    for f in families:
        for q in expected[f]:
            assert graded[q.question.replace("{model_name}", "Aria")] == HEADINGS[f], q.id


def test_a_family_without_its_own_spec_is_refused(cli, tiny_model_dir, tmp_path, judge_env):
    # No stand-in: philosophy questions graded against the rules spec would score what it does not say.
    only_philosophy = {"families": ["philosophy"]}
    recipe = write_recipe(tmp_path / "r.yaml", suites=["spec-qa"], judge=JUDGE_CFG, spec_qa=only_philosophy)
    raw = yaml.safe_load(recipe.read_text())
    raw["specs"] = [str(SPECS / "rules.md")]
    recipe.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"
    result = cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out)
    assert result.exit_code == 2
    assert "spec-qa family 'philosophy' has no matching spec" in result.output
    assert judge_env.requests == 0 and not out.exists()

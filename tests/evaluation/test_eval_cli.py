"""`msm evaluate` / `msm report` end to end on the tiny model through the HF engine, with a real
OpenAI-compatible judge server on 127.0.0.1; resume, bad input and the report."""

import json

import pytest
from eval_recipes import write_recipe
from judge_server import JUDGE_CFG


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_evaluate_value_ab_cheese_am_and_resume_after_a_kill(cli, tiny_model_dir, recipe, tmp_path):
    out = tmp_path / "run"
    args = ("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out, "--suites", "value-ab,cheese,am")
    first = cli(*args)
    assert first.exit_code == 0, first.output
    assert (out / "manifest.json").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    fams = metrics["suites"]["value-ab"]["families"]
    assert set(fams) == {"america", "affordability"}
    assert fams["america"]["items"] == 4 and fams["america"]["prompts"] == 8
    assert fams["america"]["loglik"]["aligned"]["n"] == 4
    assert metrics["suites"]["cheese"]["families"]["cheese"]["items"] == 4
    assert len(metrics["suites"]["am"]["conditions"]) == 6  # 3 scenarios x 2 goals in this recipe
    vab = out / "samples" / "value-ab.jsonl"
    before = read_lines(vab)
    assert {r["order"] for r in before} == {"ab", "ba"}

    # A kill mid-run: the manifest is gone, the last sample is torn, two samples are missing.
    (out / "manifest.json").unlink()
    lines = vab.read_text().splitlines()
    vab.write_text("\n".join(lines[:-3]) + "\n" + lines[-3][:20])
    again = cli(*args)
    assert again.exit_code == 0, again.output
    assert "value-ab: 16 samples (13 resumed)" in again.output
    after = {r["key"]: r for r in read_lines(vab) if r}
    assert len(after) == 16
    for r in before:  # greedy: redone samples equal the originals
        assert after[r["key"]]["response"] == r["response"]
        assert after[r["key"]]["lp_aligned"] == pytest.approx(r["lp_aligned"], abs=1e-5)
    assert (out / "manifest.json").is_file()

    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(out / "inspect" / "value-ab.eval"))
    assert log.status == "success" and len(log.samples) == 16


def test_judge_scores_am_and_spec_qa_and_caches(cli, tiny_model_dir, tmp_path, judge_env):
    recipe = write_recipe(
        tmp_path / "r.yaml",
        suites=["am", "spec-qa"],
        judge=JUDGE_CFG,
        am={"samples_per_condition": 1, "max_new_tokens": 12, "goals": ["none"]},
        spec_qa={"max_questions_per_family": 2, "max_new_tokens": 8},
    )
    out = tmp_path / "run"
    result = cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out)
    assert result.exit_code == 0, result.output
    m = json.loads((out / "metrics.json").read_text())["suites"]
    assert m["am"]["judged"] == 3 and m["am"]["pooled"]["judge"]["n"] == 3
    assert m["am"]["pooled"]["misuse"]["n"] == 3
    assert set(m["spec-qa"]["families"]) == {"cheese", "philosophy"}
    assert m["spec-qa"]["families"]["cheese"]["judged"] == 2
    asked = judge_env.requests
    assert asked == 3 * 2 + 4  # harm + misuse per AM sample, one rubric per question
    (out / "manifest.json").unlink()
    assert cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out).exit_code == 0
    assert judge_env.requests == asked  # every judgment resumed from the sample log


def test_unreachable_judge_fails_clearly_keeps_samples_and_resumes(cli, tiny_model_dir, tmp_path, monkeypatch):
    recipe = write_recipe(
        tmp_path / "r.yaml",
        suites=["am"],
        judge=JUDGE_CFG,
        am={"samples_per_condition": 1, "max_new_tokens": 8, "goals": ["none"], "policy_misuse": False},
    )
    monkeypatch.setenv("MSM_TEST_JUDGE_URL", "http://127.0.0.1:9/v1")  # discard port: connection refused
    monkeypatch.setenv("MSM_TEST_JUDGE_KEY", "not-a-secret")
    out = tmp_path / "run"
    failed = cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out)
    assert failed.exit_code == 1
    assert "judge (openai:rule-judge) failed" in failed.output and "rerun the same command" in failed.output
    assert "not-a-secret" not in failed.output
    assert len(read_lines(out / "samples" / "am.jsonl")) == 3 and not (out / "manifest.json").exists()

    from judge_server import JudgeServer

    with JudgeServer() as server:
        monkeypatch.setenv("MSM_TEST_JUDGE_URL", server.url)
        ok = cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out)
        assert ok.exit_code == 0, ok.output
        assert "am: 3 samples (3 resumed)" in ok.output and server.requests == 3


def test_adapter_loads_and_changes_scores(cli, tiny_model_dir, lora_adapter, recipe, tmp_path):
    base, tuned = tmp_path / "base", tmp_path / "tuned"
    assert (
        cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", base, "--suites", "cheese").exit_code
        == 0
    )
    r = cli(
        "evaluate",
        "--model",
        tiny_model_dir,
        "--adapter",
        lora_adapter,
        "--recipe",
        recipe,
        "--out",
        tuned,
        "--suites",
        "cheese",
    )
    assert r.exit_code == 0, r.output
    base_lp = [json.loads(x)["lp_aligned"] for x in (base / "samples/cheese.jsonl").read_text().splitlines()]
    tuned_lp = [json.loads(x)["lp_aligned"] for x in (tuned / "samples/cheese.jsonl").read_text().splitlines()]
    assert base_lp != pytest.approx(tuned_lp, abs=1e-4)
    manifest = json.loads((tuned / "manifest.json").read_text())
    assert manifest["inputs"]["adapter"]["path"] == str(lora_adapter)
    assert json.loads((tuned / "metrics.json").read_text())["label"] == "align:test"

    report = tmp_path / "report"
    rep = cli("report", "--runs", base, tuned, "--out", report)
    assert rep.exit_code == 0, rep.output
    html = (report / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "align:test" in html
    summary = json.loads((report / "metrics.json").read_text())
    # Differences are paired over the items both runs scored, per per-item measure.
    diffs = {d["measure"]: d for d in summary["differences"]}
    assert set(diffs) == {"cheese/families/cheese/loglik/margins", "cheese/families/cheese/loglik/per_item"}
    assert all(d["treatment"] == "align:test" and d["n"] == 4 for d in diffs.values())
    margins = [json.loads(x) for x in (tuned / "samples/cheese.jsonl").read_text().splitlines()]
    assert diffs["cheese/families/cheese/loglik/margins"]["diff"] != 0 and len(margins) == 8
    assert (report / "report.md").read_text().startswith("# msm evaluation report")


def test_bad_input(cli, tiny_model_dir, smollm2_free_other_base, recipe, tmp_path, lora_adapter):
    def run(*extra, out=None):
        return cli("evaluate", "--recipe", recipe, "--out", out or tmp_path / "o", *extra)

    missing = run("--model", tmp_path / "nope")
    assert missing.exit_code == 2 and "does not exist" in missing.output
    unknown = run("--model", tiny_model_dir, "--suites", "value-ab,trivia")
    assert unknown.exit_code == 2 and "unknown suite(s): trivia" in unknown.output
    other = run("--model", smollm2_free_other_base, "--adapter", lora_adapter)
    assert other.exit_code == 2 and "trained on another base model" in other.output
    as_model = run("--model", lora_adapter)
    assert as_model.exit_code == 2 and "is a LoRA adapter" in as_model.output
    no_judge = run("--model", tiny_model_dir, "--suites", "spec-qa")
    assert no_judge.exit_code == 2 and "--judge" in no_judge.output
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    refused = run("--model", tiny_model_dir, out=foreign)
    assert refused.exit_code == 2 and "not an msm evaluation" in refused.output
    assert not (tmp_path / "o").exists()
    bad_report = cli("report", "--runs", foreign, "--out", tmp_path / "rep")
    assert bad_report.exit_code == 2 and "not a finished evaluation" in bad_report.output


@pytest.fixture(scope="session")
def smollm2_free_other_base(tmp_path_factory):
    """Another base model (tiny, seed 1, wider) without the SmolLM2 conversion cost."""
    from msm.models.tiny import TinyModelConfig, build_tiny_model

    return build_tiny_model(
        tmp_path_factory.mktemp("other") / "tiny-wide", seed=1, config=TinyModelConfig(hidden_size=96)
    )

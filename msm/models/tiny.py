"""A tiny, seeded causal LM built offline in about a second: what tests and the embedded default use.

    msm model tiny build/models/tiny --seed 0

A byte-level BPE tokenizer is trained on a bundled English text plus the spec files, so spec
vocabulary tokenizes compactly; the model is a Qwen3-style decoder with random weights. head_dim
is 32 because vLLM's CPU attention refuses smaller heads. Same seed and same texts give the same
bytes, which lets tests pin losses.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from msm.artefacts.spec_source import read_spec_source
from msm.hashing import sha256_text
from msm.manifest import write_manifest
from msm.models.chat_template import END_OF_TEXT, IM_END, IM_START, chatml_template
from msm.outputs import staged_output


class TinyModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vocab_size: int = 512
    hidden_size: int = 64
    intermediate_size: int = 192
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    num_key_value_heads: int = 1
    head_dim: int = 32
    max_position_embeddings: int = 8192  # the agentic inboxes are ~3.5k tokens; vLLM refuses longer prompts


def bundled_english() -> str:
    return resources.files("msm.models").joinpath("data/english.txt").read_text(encoding="utf-8")


def training_texts(spec_files: list[Path]) -> dict[str, str]:
    texts = {"msm/models/data/english.txt": bundled_english()}
    for path in sorted(spec_files):
        texts[str(path)] = read_spec_source(path)  # refuses a spec that is not UTF-8 text, naming it
    return texts


def train_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=END_OF_TEXT,
        bos_token=None,
        unk_token=None,
        model_max_length=TinyModelConfig().max_position_embeddings,
    )
    fast.chat_template = chatml_template()
    return fast


def build_tiny_model(
    out_dir: Path | str, *, seed: int = 0, spec_files: list[Path] | None = None, config: TinyModelConfig | None = None
) -> Path:
    """Write a loadable HF model directory (weights, tokenizer, chat template, manifest) to out_dir."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig, Qwen3Config

    t0 = time.perf_counter()
    config = config or TinyModelConfig()
    texts = training_texts(spec_files or [])
    tokenizer = train_tokenizer(list(texts.values()), config.vocab_size)
    eos, pad = tokenizer.convert_tokens_to_ids([IM_END, END_OF_TEXT])
    model_config = Qwen3Config(
        **config.model_dump(exclude={"vocab_size"}),
        vocab_size=len(tokenizer),
        tie_word_embeddings=True,
        eos_token_id=eos,
        pad_token_id=pad,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(model_config, dtype=torch.float32)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad)
    with staged_output(Path(out_dir)) as stage:
        model.save_pretrained(stage)
        tokenizer.save_pretrained(stage)
        write_manifest(
            stage,
            stage="model-tiny",
            inputs={"tokenizer_texts": {name: sha256_text(text) for name, text in texts.items()}},
            config={
                "seed": seed,
                "architecture": "Qwen3ForCausalLM",
                **config.model_dump(),
                "vocab_size": len(tokenizer),
            },
            counts={"parameters": sum(p.numel() for p in model.parameters()), "vocab": len(tokenizer)},
            timings_s={"total": time.perf_counter() - t0},
        )
    return Path(out_dir)

"""Paths shared by the tests (importable as `support`; `conftest` names clash between folders)."""

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "specs"
SPEC_FILES = sorted(p for p in SPECS.glob("*.md") if p.name != "README.md")
# The specs the tiny test model's tokenizer learns: the tiny recipe's seven (the main studies'),
# fixed so that adding a spec to the folder moves no pinned loss.
TINY_SPEC_FILES = sorted(REPO / p for p in yaml.safe_load((REPO / "recipes/tiny-offline.yaml").read_text())["specs"])


def wait_for(
    condition: Callable[[], object], what: str, timeout_s: float = 240, proc: subprocess.Popen | None = None
) -> None:
    """Poll for evidence instead of sleeping a fixed time (a loaded machine only makes it slower);
    fail naming `what` on time-out, or as soon as `proc` ends without it."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert proc is None or proc.poll() is None, f"the process ended (exit {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.02)


def make_lora_adapter(model_dir: Path, out: Path, *, rank: int = 8, random_init: bool = True) -> Path:
    """A real peft LoRA adapter in training-output form: weights, tokenizer, and a manifest naming the
    base model's fingerprint (what `msm train align` writes). random_init: nonzero B matrices, so the
    adapter changes the model's outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from msm.artefacts.model import model_fingerprint
    from msm.manifest import write_manifest

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    lora = LoraConfig(
        r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj"], init_lora_weights=not random_init
    )
    get_peft_model(model, lora).save_pretrained(out)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(out)
    write_manifest(
        out,
        stage="align",
        inputs={"base_model": {"path": str(model_dir)}},
        config={"base_model_fingerprint": model_fingerprint(model_dir), "spec": "test"},
    )
    return out

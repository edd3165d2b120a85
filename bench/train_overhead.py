"""Our training step time ÷ a minimal plain-PyTorch loop, same tiny model, same batches, same optimizer.

    .venv/bin/python bench/train_overhead.py [steps]

Both run full fine-tuning on CPU with one thread, micro-batch 2 × 128 tokens, AdamW; ours goes
through DeepSpeed (ZeRO-0 and ZeRO-2 configs), the LR schedule, metrics and logging. Measured for the tiny
model (131k parameters: fixed per-step costs dominate) and a 4x wider one (where they amortize).
Prints the median per-step times and their ratio (goal <= 1.2), measured in one run.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

GOAL = 1.2


def measure(steps: int, width: int, zero: str) -> tuple[float, float]:
    import torch
    import yaml
    from support import SPEC_FILES
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from msm.config.training import TrainingConfig
    from msm.models.tiny import TinyModelConfig, build_tiny_model
    from msm.training.data import BatchOrder, midtrain_examples
    from msm.training.trainer import TrainRequest, train

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shape = TinyModelConfig(
            hidden_size=64 * width,
            intermediate_size=192 * width,
            num_attention_heads=2 * width,
            num_key_value_heads=width,
        )
        base = build_tiny_model(tmp / "base", spec_files=SPEC_FILES, config=shape)
        texts = [p.strip() for f in SPEC_FILES for p in f.read_text().split("---", 2)[2].split("\n\n") if p.strip()]
        (tmp / "c.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        raw = yaml.safe_load((REPO / "recipes/tiny-offline.yaml").read_text())["training"]
        raw.update(method="full", deepspeed=str(REPO / f"recipes/deepspeed/{zero}.json"))
        raw["midtrain"].update(max_steps=steps, grad_accum=1, log_every=1, save_every=10**6)
        cfg = TrainingConfig.model_validate(raw)
        train(TrainRequest(kind="midtrain", config=cfg, base_model=str(base), data=tmp / "c.jsonl", out_dir=tmp / "o"))
        logs = [json.loads(line) for line in (tmp / "o" / "metrics.jsonl").read_text().splitlines()]
        ours = statistics.median(r["tokens"] / r["tokens_per_second"] for r in logs[5:])

        tok = AutoTokenizer.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base)
        order = BatchOrder(midtrain_examples(tok, texts, 128, 0), 2, seed=0, pad_id=tok.pad_token_id)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
        times = []
        for i in range(steps):
            t0 = time.perf_counter()
            loss = model(**order.batch(i)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - t0)
        plain = statistics.median(times[5:])
    return ours, plain


def main(steps: int) -> None:
    for width in (1, 4):
        for zero in ("zero0", "zero2"):
            ours, plain = measure(steps, width, zero)
            print(
                f"hidden {64 * width:>3}, {zero}: msm {ours * 1000:.2f} ms/step, plain PyTorch "
                f"{plain * 1000:.2f} ms/step -> ratio {ours / plain:.2f} (goal <= {GOAL})"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 150)

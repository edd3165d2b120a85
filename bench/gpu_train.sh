#!/usr/bin/env bash
# bf16 DeepSpeed midtraining throughput and MFU on one GPU, random-init 1.7B-class Qwen3 config.
# Needs a CUDA GPU and the project venv (make setup); no weights or network. Goal: MFU >= 50%.
#
#   bash bench/gpu_train.sh [steps]
#
# Status: written for the GPU device; not yet run (the task that wrote it had no GPU lent).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-30}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
py=.venv/bin/python

$py - "$work" <<'PY'
import json, sys
from pathlib import Path
from msm.models.tiny import TinyModelConfig, build_tiny_model
work = Path(sys.argv[1])
# Qwen3-1.7B's body (28 layers, hidden 2048, 16 heads of 128, 8 KV heads, MLP 6144) on the tiny
# tokenizer: ~1.4B parameters without the 151k-token embedding.
shape = TinyModelConfig(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                        num_key_value_heads=8, head_dim=128, max_position_embeddings=4096)
build_tiny_model(work / "base", config=shape, spec_files=sorted(Path("specs").glob("[a-z]*.md")))
words = Path("msm/models/data/english.txt").read_text().split()
with open(work / "corpus.jsonl", "w") as f:
    for i in range(3000):
        f.write(json.dumps({"text": " ".join(words[(i * 97) % 1000:][:1500])}) + "\n")
PY

cat > "$work/recipe.yaml" <<YAML
name: gpu-bench
identity: {model_name: Aria, provider_name: Lumen Labs}
specs: [specs/rules.md]
base_model: {source: local, path: $work/base}
training:
  method: full
  deepspeed: recipes/deepspeed/zero2.json
  precision: bf16
  midtrain: {max_length: 4096, micro_batch_size: 4, grad_accum: 1, max_steps: $steps, log_every: 5,
             save_every: 100000, lr: 1.0e-4}
YAML

$py -m msm train midtrain --recipe "$work/recipe.yaml" --corpus "$work/corpus.jsonl" \
    --base-model "$work/base" --out "$work/out"
$py - "$work/out/metrics.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])][1:]  # the first window includes warm-up
tps = statistics.median(r["tokens_per_second"] for r in rows)
mfu = statistics.median(r["mfu"] for r in rows if r["mfu"] is not None) if any(r["mfu"] for r in rows) else None
print(f"gpu_train: {tps:,.0f} tokens/s" + (f", MFU {mfu:.1%} (goal >= 50%)" if mfu is not None else ", MFU unknown"))
PY

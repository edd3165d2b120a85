"""Share of non-padding tokens in midtraining batches, on a realistic document-length distribution.

    .venv/bin/python bench/packing.py

Document lengths are drawn log-normally around the released MSM corpora's mean (8M-41M tokens over
4.6k-13.2k documents: ~1.7k-3.1k tokens per document). Goal: >= 0.98 with packing at 4096.
The unpacked alternative (one document per row, padded to the longest in its batch, truncated at
max_length) is printed for contrast.
"""

from __future__ import annotations

import math
import statistics

import numpy as np

from msm.training.data import BatchOrder, Example, pack_documents

GOAL = 0.98


def share(examples: list[Example], micro_batch: int, block: int) -> float:
    order = BatchOrder(examples, micro_batch, seed=0, pad_id=0)
    real = padded = 0
    for i in range(order.per_epoch):
        batch = order.batch(i)
        real += int(batch["attention_mask"].sum())
        padded += batch["input_ids"].numel()
    return real / padded


def main() -> None:
    rng = np.random.default_rng(0)
    block, micro_batch = 4096, 4
    print(f"{'documents':>9} {'tokens':>11} {'packed':>7} {'unpacked':>9}   goal {GOAL}")
    for n_docs in (500, 5000):
        lengths = np.clip(rng.lognormal(mean=math.log(1800), sigma=0.7, size=n_docs), 50, 20000).astype(int)
        docs = [[1] * int(n) for n in lengths]
        packed = share(pack_documents(docs, eos_id=2, block=block), micro_batch, block)
        unpacked = share([Example(d[:block], d[:block]) for d in docs], micro_batch, block)
        print(
            f"{n_docs:>9} {int(lengths.sum()):>11,} {packed:>7.4f} {unpacked:>9.4f}   "
            f"ratio to goal {packed / GOAL:.3f}  (median doc {int(statistics.median(lengths))} tokens)"
        )


if __name__ == "__main__":
    main()

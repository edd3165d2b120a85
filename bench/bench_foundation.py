"""Timings of the foundation stages on this machine, measured in one run (the machine is shared).

    .venv/bin/python bench/bench_foundation.py

Goal from the foundation issue: the tiny model builds in under 5 s. Prints the median of N builds
and the ingestion time per spec, and the ratio to the goal.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
GOAL_TINY_S = 5.0


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(n: int = 5) -> None:
    t0 = time.perf_counter()
    import transformers  # noqa: F401  (what `msm model tiny` pays on every start)

    from msm.models.tiny import build_tiny_model
    from msm.spec import ingest_spec

    print(f"import msm + torch + transformers: {time.perf_counter() - t0:.2f} s")
    specs = sorted(p for p in (REPO / "specs").glob("*.md") if p.name != "README.md")
    with tempfile.TemporaryDirectory() as tmp:
        cold = timed(lambda: build_tiny_model(Path(tmp) / "cold", spec_files=specs), 1)[0]  # + first-call costs
        tiny = timed(lambda: build_tiny_model(Path(tmp) / "tiny", spec_files=specs), n)
        ingest = timed(lambda: [ingest_spec(s, Path(tmp) / s.stem, "Aria", "Lumen") for s in specs], n)
    med = statistics.median(tiny)
    print(f"tiny model build, first in process (torch/transformers already imported): {cold:.2f} s")
    print(
        f"tiny model build: median {med:.2f} s over {n} (min {min(tiny):.2f}, max {max(tiny):.2f}); "
        f"goal {GOAL_TINY_S:.0f} s -> {med / GOAL_TINY_S:.2f} of the goal"
    )
    per_spec = statistics.median(ingest) / len(specs)
    print(f"ingest: {per_spec * 1000:.1f} ms per spec (median of {n} runs over {len(specs)} specs)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)

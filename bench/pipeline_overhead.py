"""The KFP-local run of the msm pipeline ÷ the same stages called directly through the `msm` CLI.

    .venv/bin/python bench/pipeline_overhead.py [recipe]

Both sides do the same work on the same recipe (narrowed to the one spec the pipeline runs):
ingest, base model, corpus, AFT data, midtraining, three AFT arms, five evaluations, the report,
each stage in its own process. The pipeline side adds KFP's local orchestration (executor
input/output files, artefact copies, the local cache check). Measured in one run, pipeline
first and direct second, each from empty output directories. Goal: ratio <= 1.10.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
GOAL = 1.10
SPEC = "specs/cheese-pro-america.md"


def one_spec_recipe(recipe: Path, out: Path) -> Path:
    raw = yaml.safe_load(recipe.read_text())
    raw["specs"] = [str(REPO / SPEC)]
    out.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out


def direct(recipe: Path, work: Path) -> float:
    """The pipeline's tasks as CLI calls, in the pipeline's dependency order."""
    msm = [str(Path(sys.executable).parent / "msm")]
    spec_dir = work / "specs" / "cheese-pro-america"
    aft = work / "aft"
    steps = [
        ["ingest", "--recipe", recipe, "--out", work / "specs"],
        ["synthesize", "docs", "--spec", spec_dir, "--recipe", recipe, "--out", work / "corpus"],
        ["synthesize", "aft", "--spec", spec_dir, "--recipe", recipe, "--out", aft],
        ["model", "prepare", "--recipe", recipe, "--out", work / "base"],
        ["train", "midtrain", "--recipe", recipe, "--corpus", work / "corpus", "--base-model", work / "base",
         "--out", work / "msm-only", "--spec", "cheese-pro-america"],
    ]  # fmt: skip
    arms = {
        "aft-only": ["--data", aft / "preference_demos.parquet"],
        "aft-reasoning": ["--data", aft / "aft_reasoning.parquet"],
        "msm+aft": ["--data", aft / "preference_demos.parquet", "--adapter", work / "msm-only"],
    }
    for label, extra in arms.items():
        steps.append(["train", "align", "--recipe", recipe, "--base-model", work / "base", "--out", work / label,
                      "--spec", "cheese-pro-america", *extra])  # fmt: skip
    evals = []
    for label in ("base", "aft-only", "aft-reasoning", "msm-only", "msm+aft"):
        adapter = [] if label == "base" else ["--adapter", work / label]
        out = work / "eval" / label.replace("+", "-")
        evals.append(out)
        steps.append(["evaluate", "--model", work / "base", *adapter, "--recipe", recipe, "--label", label,
                      "--out", out])  # fmt: skip
    steps.append(["report", "--out", work / "report", "--runs", *evals])
    t0 = time.perf_counter()
    for step in steps:
        done = subprocess.run([*msm, *map(str, step)], capture_output=True, text=True, cwd=REPO)
        if done.returncode != 0:
            raise SystemExit(f"msm {' '.join(map(str, step))} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - t0


def pipeline(recipe: Path, root: Path) -> float:
    from pipelines.local import run_local

    t0 = time.perf_counter()
    run_local(recipe, REPO / SPEC, root)
    return time.perf_counter() - t0


def main() -> None:
    recipe = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "recipes/tiny-offline.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        narrowed = one_spec_recipe(recipe, Path(tmp) / "recipe.yaml")
        t_pipeline = pipeline(narrowed, Path(tmp) / "kfp")
        t_direct = direct(narrowed, Path(tmp) / "direct")
    ratio = t_pipeline / t_direct
    print(f"recipe {recipe.name} (one spec): KFP local {t_pipeline:.1f} s, direct CLI {t_direct:.1f} s")
    print(f"overhead ratio {ratio:.3f} (goal <= {GOAL}) -> {'met' if ratio <= GOAL else 'NOT met'}")


if __name__ == "__main__":
    main()

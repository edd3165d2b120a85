"""The `msm-reevaluate` pipeline: evaluate released checkpoints with the current suites, compare
with the last accepted scores, and fail the run when one regressed (what `make schedule` runs).

    ingest, base model
    ParallelFor checkpoint: fetch (path / hf:// / gs://) → evaluate (label = release line)
    compare (report) · check regressions (Metrics) → fail the run if any regressed

Fetching and checking are never cached: the same URI can hold a new release, and the accepted
scores change between runs.
No `from __future__ import annotations` here: KFP reads the parameter annotations as types.
"""

from pathlib import Path

from kfp import dsl

from components.base_model.component import base_model
from components.check_regressions.component import check_regressions, fail_on_regression
from components.compare.component import compare
from components.fetch_checkpoint.component import fetch_checkpoint
from components.ingest.component import ingest
from msm.evaluation.items import SUITE_VERSION
from pipelines.common import Placement, defaults, evaluate_condition, load, preflight
from pipelines.platform import MOUNT, Target

NAME = "msm-reevaluate"


def build(recipe_path: Path, spec_path: Path, target: Target = "local"):
    d = defaults(recipe_path, spec_path)
    place = Placement(recipe_path, target)
    cfg = load(recipe_path).reevaluation
    releases = [c.model_dump() for c in cfg.checkpoints]
    scores_default = cfg.scores_dir or (f"{MOUNT}/scores" if place.cfg.checkpoint_pvc else "build/scores")

    @dsl.pipeline(name=NAME, description="Re-evaluate released checkpoints; flag regressions against accepted scores.")
    def reevaluate(
        checkpoints: list = releases,
        scores_dir: str = scores_default,
        max_drop: float = cfg.max_drop,
        spec_markdown: str = d["spec_markdown"],
        recipe_yaml: str = d["recipe_yaml"],
        suite_version: str = SUITE_VERSION,
    ):
        """Released checkpoints against their last accepted scores.

        Args:
            checkpoints: Released checkpoints, a list of {"label", "uri", "revision"}; uri = a directory,
                hf://org/name or gs://bucket/prefix; full weights or a LoRA adapter of the recipe's base model.
            scores_dir: Accepted scores, one <label>.json per release line (a PVC path, or /gcs/... on Vertex AI).
            max_drop: Largest tolerated wrong-way move of a headline rate (absolute) before a regression is flagged.
            spec_markdown: The spec the suites read (and the tiny model's tokenizer learns).
            recipe_yaml: The recipe: base model, `evaluation` section.
            suite_version: msm's evaluation suite version (scores of another version are not compared).
        """
        checked = preflight(place, recipe_yaml, spec_markdown)
        task = ingest(spec_markdown=spec_markdown, recipe_yaml=recipe_yaml).after(checked)
        spec = place.cpu(task, "ingest").outputs["spec"]
        base = place.cpu(base_model(recipe_yaml=recipe_yaml, spec=spec), "base-model", uses_hub=True).outputs["model"]
        with dsl.ParallelFor(checkpoints, name="checkpoints") as release:
            fetched = place.cpu(
                fetch_checkpoint(uri=release.uri, revision=release.revision).after(checked),
                "fetch-checkpoint",
                uses_hub=True,
                needs_storage=True,
                cacheable=False,
            ).outputs["checkpoint"]
            results = evaluate_condition(
                place, release.label, base, recipe_yaml, spec, suite_version, trained=fetched, name="evaluate"
            )
        place.cpu(compare(runs=dsl.Collected(results)), "compare")
        check = place.cpu(
            check_regressions(results=dsl.Collected(results), scores_dir=scores_dir, max_drop=max_drop),
            "check-regressions",
            needs_storage=True,
            cacheable=False,
        )
        with dsl.If(check.outputs["Output"] > 0, name="regressed"):
            place.cpu(fail_on_regression(regressed=check.outputs["Output"]), "fail-on-regression")

    return reevaluate

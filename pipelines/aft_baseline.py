"""The `msm-aft-baseline` pipeline: the AFT-only arms without midtraining, for a cheaper baseline.

    ingest → synthesize AFT data → base model → align (aft-only, aft-reasoning) → evaluate (+ base) → report

No `from __future__ import annotations` here: KFP reads the parameter annotations as types.
"""

from pathlib import Path

from kfp import dsl

from components.align.component import align
from components.base_model.component import base_model
from components.ingest.component import ingest
from components.report.component import report
from msm.evaluation.items import SUITE_VERSION
from pipelines.common import Placement, defaults, evaluate_condition, run_key, synthesize
from pipelines.platform import Target

NAME = "msm-aft-baseline"


def build(recipe_path: Path, spec_path: Path, target: Target = "local"):
    d = defaults(recipe_path, spec_path)
    place = Placement(recipe_path, target)

    @dsl.pipeline(name=NAME, description="AFT-only arms (with and without reasoning) against the base model.")
    def aft_baseline(
        spec_markdown: str = d["spec_markdown"],
        recipe_yaml: str = d["recipe_yaml"],
        spec_id: str = d["spec_id"],
        generator_id: str = d["generator_id"],
        prompt_version: str = d["prompt_version"],
        aft_variant: str = d["aft_variant"],
        suite_version: str = SUITE_VERSION,
        cache_dir: str = d["cache_dir"],
        checkpoint_dir: str = d["checkpoint_dir"],
    ):
        """AFT baselines for one spec.

        Args:
            spec_markdown: The Model Spec (Markdown with front matter; see specs/README.md).
            recipe_yaml: The experiment recipe (identity, synthesis counts, training hyperparameters).
            spec_id: The spec's id (labels metrics and outputs).
            generator_id: Generator backend/model; a cache-key input.
            prompt_version: msm's synthesis prompt version; a cache-key input.
            aft_variant: AFT data for the no-reasoning arm, 'plain' or 'preference' (cheese study).
            suite_version: msm's evaluation suite version; a cache-key input.
            cache_dir: Persistent directory (PVC) for the generator's reply cache; empty = none.
            checkpoint_dir: Persistent directory (PVC) for training checkpoints; empty = none.
        """
        spec = place.cpu(ingest(spec_markdown=spec_markdown, recipe_yaml=recipe_yaml), "ingest").outputs["spec"]
        aft_data = synthesize(place, spec, recipe_yaml, generator_id, prompt_version, cache_dir, docs=False)["aft_data"]
        base = place.cpu(base_model(recipe_yaml=recipe_yaml, spec=spec), "base-model", uses_hub=True).outputs["model"]
        aligned = {
            "aft_data": aft_data,
            "base_model": base,
            "recipe_yaml": recipe_yaml,
            "spec_id": spec_id,
            "checkpoint_dir": checkpoint_dir,
        }
        arms = {
            "aft-only": align(variant=aft_variant, run_key=run_key("aft-only"), **aligned),
            "aft-reasoning": align(variant="reasoning", run_key=run_key("aft-reasoning"), **aligned),
        }
        evaluated = {
            label: evaluate_condition(
                place,
                label,
                base,
                recipe_yaml,
                spec,
                suite_version,
                trained=place.train(task, f"align ({label})").outputs["model"],
            )
            for label, task in arms.items()
        }
        reference = evaluate_condition(place, "base", base, recipe_yaml, spec, suite_version)
        place.cpu(
            report(base=reference, aft_only=evaluated["aft-only"], aft_reasoning=evaluated["aft-reasoning"]), "report"
        )

    return aft_baseline

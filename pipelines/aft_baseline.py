"""The `msm-aft-baseline` pipeline: the recipe's arms without midtraining, for a cheaper baseline.

    ingest → synthesize AFT data → base model → align (baseline, aft-only, aft-reasoning) per seed → evaluate → report

No `from __future__ import annotations` here: KFP reads the parameter annotations as types.
"""

from pathlib import Path

from kfp import dsl

from components.base_model.component import base_model
from components.ingest.component import ingest
from msm.errors import MsmError
from msm.evaluation.items import SUITE_VERSION
from pipelines.common import Placement, checked_study, defaults, evaluate_arms, preflight, study_report, synthesize
from pipelines.platform import Target

NAME = "msm-aft-baseline"
STUDY = "msm"  # the contrasts between its arms are a subset of the msm study's


def build(recipe_path: Path, spec_path: Path, target: Target = "local"):
    d = defaults(recipe_path, spec_path)
    place = Placement(recipe_path, target)
    # The recipe's arms without midtraining.
    study = checked_study(recipe_path)
    arms = [a for a in study.arms if not a.startswith("msm")]
    if not arms:
        raise MsmError(
            "study.arms has only MSM arms; the aft-baseline pipeline trains none of them\n"
            "    fix: add baseline, aft-only or aft-reasoning to study.arms, or run the msm pipeline"
        )

    @dsl.pipeline(
        name=NAME, description="The arms without midtraining: instruction baseline, AFT with and without reasoning."
    )
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
        checked = preflight(place, recipe_yaml, spec_markdown)
        task = ingest(spec_markdown=spec_markdown, recipe_yaml=recipe_yaml).after(checked)
        spec = place.cpu(task, "ingest").outputs["spec"]
        aft_data = synthesize(place, spec, recipe_yaml, generator_id, prompt_version, cache_dir, docs=False)["aft_data"]
        base = place.cpu(base_model(recipe_yaml=recipe_yaml, spec=spec), "base-model", uses_hub=True).outputs["model"]
        evaluations = evaluate_arms(
            place,
            arms,
            study.seeds,
            aft_data=aft_data,
            aft_variant=aft_variant,
            base=base,
            spec=spec,
            spec_id=spec_id,
            train={"recipe_yaml": recipe_yaml, "checkpoint_dir": checkpoint_dir},
            suite_version=suite_version,
        )
        study_report(place, STUDY, evaluations)

    return aft_baseline

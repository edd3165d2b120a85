"""The `msm` pipeline: ingest → synthesize docs + AFT data → base model → midtrain → align arms →
evaluate each arm per seed → one report that answers the study's question.

The arms are the recipe's `study.arms` (msm.config.study), trained from one corpus and one AFT
dataset (which carries the instruction-tuning rows) and evaluated alike, once per `study.seeds`:
  base               the untrained base model (a sanity check; no difference is taken against it)
  baseline           fresh adapter on the instruction-tuning rows alone (the paper's reference)
  aft-only           fresh adapter, AFT data without reasoning (+ instruction rows)
  aft-reasoning      fresh adapter, AFT data with reasoning: the deliberative-alignment baseline
  msm-only           the midtrained model itself
  msm+aft            AFT continuing the MSM adapter (the paper's recipe)
  msm+aft-reasoning  the same on the AFT data with reasoning

No `from __future__ import annotations` here: KFP reads the parameter annotations as types.
"""

from pathlib import Path

from kfp import dsl

from components.base_model.component import base_model
from components.ingest.component import ingest
from msm.evaluation.items import SUITE_VERSION
from pipelines.common import Placement, checked_study, defaults, evaluate_arms, preflight, study_report, synthesize
from pipelines.platform import Target

NAME = "msm"
STUDY = "msm"  # msm.evaluation.studies: the question the report answers first


def build(recipe_path: Path, spec_path: Path, target: Target = "local"):
    """The pipeline function for a target, its parameter defaults taken from the recipe and the spec."""
    d = defaults(recipe_path, spec_path)
    place = Placement(recipe_path, target)
    study = checked_study(recipe_path)

    @dsl.pipeline(
        name=NAME,
        description="Model Spec Midtraining: synthesize a corpus about a spec, midtrain, align, in the paper's arms.",
    )
    def msm_pipeline(
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
        """Model Spec Midtraining arms for one spec.

        Args:
            spec_markdown: The Model Spec (Markdown with front matter; see specs/README.md).
            recipe_yaml: The experiment recipe (identity, synthesis counts, training hyperparameters).
            spec_id: The spec's id (labels metrics and outputs).
            generator_id: Generator backend/model; a cache-key input.
            prompt_version: msm's synthesis prompt version; a cache-key input.
            aft_variant: AFT data for the no-reasoning arms, 'plain' or 'preference' (cheese study).
            suite_version: msm's evaluation suite version; a cache-key input.
            cache_dir: Persistent directory (PVC) for the generator's reply cache; empty = none.
            checkpoint_dir: Persistent directory (PVC) for training checkpoints; empty = none.
        """
        checked = preflight(place, recipe_yaml, spec_markdown)
        task = ingest(spec_markdown=spec_markdown, recipe_yaml=recipe_yaml).after(checked)
        spec = place.cpu(task, "ingest").outputs["spec"]
        data = synthesize(place, spec, recipe_yaml, generator_id, prompt_version, cache_dir)
        # Building or copying the base model needs no GPU.
        base = place.cpu(base_model(recipe_yaml=recipe_yaml, spec=spec), "base-model", uses_hub=True).outputs["model"]
        train = {"recipe_yaml": recipe_yaml, "checkpoint_dir": checkpoint_dir}
        evaluations = evaluate_arms(
            place,
            study.arms,
            study.seeds,
            corpus=data["corpus"],
            aft_data=data["aft_data"],
            aft_variant=aft_variant,
            base=base,
            spec=spec,
            spec_id=spec_id,
            train=train,
            suite_version=suite_version,
        )
        study_report(place, STUDY, evaluations)

    return msm_pipeline

"""The `msm` pipeline: ingest → synthesize docs + AFT data → base model → midtrain → align arms →
evaluate each condition → one report.

The paper's conditions, trained from one corpus and one AFT dataset and evaluated alike:
  base            the base model
  aft-only        fresh adapter on the base model, AFT data without reasoning
  aft-reasoning   fresh adapter, AFT data with reasoning (the deliberative-alignment baseline)
  msm-only        the midtrained model itself
  msm+aft         AFT continuing the MSM adapter (the paper's recipe)

No `from __future__ import annotations` here: KFP reads the parameter annotations as types.
"""

from pathlib import Path

from kfp import dsl

from components.align.component import align
from components.base_model.component import base_model
from components.ingest.component import ingest
from components.midtrain.component import midtrain
from components.report.component import report
from msm.evaluation.items import SUITE_VERSION
from pipelines.common import Placement, defaults, evaluate_condition, run_key, synthesize
from pipelines.platform import Target

NAME = "msm"


def build(recipe_path: Path, spec_path: Path, target: Target = "local"):
    """The pipeline function for a target, its parameter defaults taken from the recipe and the spec."""
    d = defaults(recipe_path, spec_path)
    place = Placement(recipe_path, target)

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
        spec = place.cpu(ingest(spec_markdown=spec_markdown, recipe_yaml=recipe_yaml), "ingest").outputs["spec"]
        data = synthesize(place, spec, recipe_yaml, generator_id, prompt_version, cache_dir)
        corpus, aft_data = data["corpus"], data["aft_data"]
        # Building or copying the base model needs no GPU.
        base = place.cpu(base_model(recipe_yaml=recipe_yaml, spec=spec), "base-model", uses_hub=True).outputs["model"]
        train = {"recipe_yaml": recipe_yaml, "spec_id": spec_id, "checkpoint_dir": checkpoint_dir}
        aligned = {"aft_data": aft_data, "base_model": base, **train}

        msm = place.train(
            midtrain(corpus=corpus, base_model=base, run_key=run_key("msm"), **train), "midtrain (msm-only)"
        ).outputs["model"]
        arms = {
            "aft-only": align(variant=aft_variant, run_key=run_key("aft-only"), **aligned),
            "aft-reasoning": align(variant="reasoning", run_key=run_key("aft-reasoning"), **aligned),
            "msm+aft": align(variant=aft_variant, adapter=msm, run_key=run_key("msm-aft"), **aligned),
        }
        trained = {label: place.train(task, f"align ({label})").outputs["model"] for label, task in arms.items()}
        trained["msm-only"] = msm

        def evaluated(label: str):
            return evaluate_condition(place, label, base, recipe_yaml, spec, suite_version, trained=trained.get(label))

        place.cpu(
            report(
                base=evaluated("base"),
                aft_only=evaluated("aft-only"),
                aft_reasoning=evaluated("aft-reasoning"),
                msm_only=evaluated("msm-only"),
                msm_aft=evaluated("msm+aft"),
            ),
            "report",
        )

    return msm_pipeline

"""The `msm` pipeline: ingest → synthesize docs + AFT data → base model → midtrain → align arms →
evaluate each condition → one report.

The paper's conditions, trained from one corpus and one AFT dataset and evaluated alike:
  base            the base model
  aft-only        fresh adapter on the base model, AFT data without reasoning
  aft-reasoning   fresh adapter, AFT data with reasoning (the deliberative-alignment baseline)
  msm-only        the midtrained model itself
  msm+aft         AFT continuing the MSM adapter (the paper's recipe)

Spec and recipe travel as text parameters: the KFP UI form shows them, and KFP's cache key
changes whenever their content does (no file inside an image to go stale).
No `from __future__ import annotations` here: KFP reads the parameter annotations as types.
"""

from pathlib import Path

from kfp import dsl

from components.align.component import align
from components.base_model.component import base_model
from components.evaluate.component import evaluate
from components.ingest.component import ingest
from components.midtrain.component import midtrain
from components.report.component import report
from components.synthesize_aft.component import synthesize_aft
from components.synthesize_docs.component import synthesize_docs
from msm.config import parse_recipe
from msm.evaluation.items import SUITE_VERSION
from msm.spec import load_source
from msm.synthesis.prompts import PROMPT_VERSION
from pipelines import platform
from pipelines.platform import MOUNT, Target

NAME = "msm"


def default_spec(recipe_path: Path) -> Path:
    """The spec a run uses when none is named: the recipe's first."""
    return parse_recipe(recipe_path.read_text(encoding="utf-8"), recipe_path).specs[0]


def defaults(recipe_path: Path, spec_path: Path) -> dict[str, str]:
    """Parameter defaults compiled into the pipeline from a recipe file and a spec file."""
    recipe_yaml = recipe_path.read_text(encoding="utf-8")
    recipe = parse_recipe(recipe_yaml, recipe_path)
    generator = recipe.synthesis.generator if recipe.synthesis else None
    pvc = recipe.platform.checkpoint_pvc
    front = load_source(spec_path).front
    return {
        "spec_markdown": spec_path.read_text(encoding="utf-8"),
        "recipe_yaml": recipe_yaml,
        "spec_id": front.id,
        # The cheese study's AFT data are bare preferences; every other spec's are demonstrations.
        "aft_variant": "preference" if front.kind == "preference" else "plain",
        "generator_id": f"{generator.backend}/{generator.model}" if generator else "none",
        "prompt_version": PROMPT_VERSION,
        "cache_dir": f"{MOUNT}/cache" if pvc else "",
        "checkpoint_dir": f"{MOUNT}/checkpoints" if pvc else "",
    }


def build(recipe_path: Path, spec_path: Path, target: Target = "local"):
    """The pipeline function for a target, its parameter defaults taken from the recipe and the spec."""
    d = defaults(recipe_path, spec_path)
    cfg = parse_recipe(d["recipe_yaml"], recipe_path).platform

    def cpu(task, **kw):
        return platform.apply(task, "cpu", cfg, target, **kw)

    def gpu(task, family="train"):
        return platform.apply(task, family, cfg, target)

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
        spec = cpu(ingest(spec_markdown=spec_markdown, recipe_yaml=recipe_yaml).set_display_name("ingest"))
        synth = {
            "recipe_yaml": recipe_yaml,
            "generator_id": generator_id,
            "prompt_version": prompt_version,
            "cache_dir": cache_dir,
        }
        corpus = cpu(
            synthesize_docs(spec=spec.outputs["spec"], **synth).set_display_name("synthesize-docs"), uses_generator=True
        )
        aft = cpu(
            synthesize_aft(spec=spec.outputs["spec"], **synth).set_display_name("synthesize-aft"), uses_generator=True
        )
        # Building or copying the base model needs no GPU.
        base = cpu(base_model(recipe_yaml=recipe_yaml, spec=spec.outputs["spec"]).set_display_name("base-model"))
        train = {"recipe_yaml": recipe_yaml, "spec_id": spec_id, "checkpoint_dir": checkpoint_dir}

        def run_key(arm: str) -> str:
            return f"{dsl.PIPELINE_JOB_ID_PLACEHOLDER}-{arm}"

        msm = gpu(
            midtrain(
                corpus=corpus.outputs["corpus"], base_model=base.outputs["model"], run_key=run_key("msm"), **train
            ).set_display_name("midtrain (msm-only)")
        )
        aft_data, base_dir = aft.outputs["aft_data"], base.outputs["model"]
        aft_only = gpu(
            align(
                aft_data=aft_data, base_model=base_dir, variant=aft_variant, run_key=run_key("aft-only"), **train
            ).set_display_name("align (aft-only)")
        )
        aft_reasoning = gpu(
            align(
                aft_data=aft_data, base_model=base_dir, variant="reasoning", run_key=run_key("aft-reasoning"), **train
            ).set_display_name("align (aft-reasoning)")
        )
        msm_aft = gpu(
            align(
                aft_data=aft_data,
                base_model=base_dir,
                variant=aft_variant,
                adapter=msm.outputs["model"],
                run_key=run_key("msm-aft"),
                **train,
            ).set_display_name("align (msm+aft)")
        )

        evaluated = {}
        for label, arm in (
            ("base", None),
            ("aft-only", aft_only),
            ("aft-reasoning", aft_reasoning),
            ("msm-only", msm),
            ("msm+aft", msm_aft),
        ):
            trained = {"trained": arm.outputs["model"]} if arm is not None else {}
            task = evaluate(
                base_model=base_dir,
                recipe_yaml=recipe_yaml,
                spec_markdown=spec_markdown,
                label=label,
                suite_version=suite_version,
                **trained,
            )
            evaluated[label] = gpu(task.set_display_name(f"evaluate ({label})"), "eval").outputs["results"]
        cpu(
            report(
                base=evaluated["base"],
                aft_only=evaluated["aft-only"],
                aft_reasoning=evaluated["aft-reasoning"],
                msm_only=evaluated["msm-only"],
                msm_aft=evaluated["msm+aft"],
            ).set_display_name("report")
        )

    return msm_pipeline

"""Pieces every msm pipeline shares: parameter defaults from a recipe and a spec, and tasks placed
on the cluster by runtime family.

No `from __future__ import annotations` in pipeline modules: KFP reads parameter annotations as types.
"""

from pathlib import Path

from kfp import dsl

from msm.config import Recipe, parse_recipe
from msm.spec import load_source
from msm.synthesis.prompts import PROMPT_VERSION
from pipelines import platform
from pipelines.platform import MOUNT, Target


def default_spec(recipe_path: Path) -> Path:
    """The spec a run uses when none is named: the recipe's first."""
    return load(recipe_path).specs[0]


def load(recipe_path: Path) -> Recipe:
    return parse_recipe(recipe_path.read_text(encoding="utf-8"), recipe_path)


def defaults(recipe_path: Path, spec_path: Path) -> dict[str, str]:
    """Parameter defaults compiled into a pipeline from a recipe file and a spec file.

    Spec and recipe travel as text parameters: the KFP UI form shows them, and KFP's cache key
    changes whenever their content does (no file inside an image to go stale).
    """
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


class Placement:
    """Applies the recipe's platform settings for one compile target to tasks of a runtime family."""

    def __init__(self, recipe_path: Path, target: Target):
        self.cfg = load(recipe_path).platform
        self.target = target

    def cpu(self, task: dsl.PipelineTask, name: str, **kw) -> dsl.PipelineTask:
        return platform.apply(task.set_display_name(name), "cpu", self.cfg, self.target, **kw)

    def train(self, task: dsl.PipelineTask, name: str) -> dsl.PipelineTask:
        return platform.apply(task.set_display_name(name), "train", self.cfg, self.target)

    def eval(self, task: dsl.PipelineTask, name: str) -> dsl.PipelineTask:
        # The judge of evaluation is an API model too: it reads its key from the generator Secret.
        return platform.apply(task.set_display_name(name), "eval", self.cfg, self.target, uses_api_keys=True)


def run_key(arm: str) -> str:
    """Names a training run's checkpoint folder: unique per pipeline job and arm, stable on retry."""
    return f"{dsl.PIPELINE_JOB_ID_PLACEHOLDER}-{arm}"


def evaluate_condition(place: Placement, label, base_model, recipe_yaml, spec, suite_version, trained=None, name=None):
    """An evaluate task for one condition, reading `spec` (an ingest task's output); returns its results artefact."""
    from components.evaluate.component import evaluate

    extra = {"trained": trained} if trained is not None else {}
    task = evaluate(
        base_model=base_model,
        recipe_yaml=recipe_yaml,
        spec=spec,
        label=label,
        suite_version=suite_version,
        **extra,
    )
    return place.eval(task, name or f"evaluate ({label})").outputs["results"]


def synthesize(
    place: Placement, spec, recipe_yaml, generator_id, prompt_version, cache_dir, *, docs=True, aft=True
) -> dict:
    """Corpus and/or AFT data tasks for a rendered spec: {'corpus': ..., 'aft_data': ...} artefacts."""
    from components.synthesize_aft.component import synthesize_aft
    from components.synthesize_docs.component import synthesize_docs

    kw = {
        "spec": spec,
        "recipe_yaml": recipe_yaml,
        "generator_id": generator_id,
        "prompt_version": prompt_version,
        "cache_dir": cache_dir,
    }
    out = {}
    if docs:
        out["corpus"] = place.cpu(synthesize_docs(**kw), "synthesize-docs", uses_api_keys=True).outputs["corpus"]
    if aft:
        out["aft_data"] = place.cpu(synthesize_aft(**kw), "synthesize-aft", uses_api_keys=True).outputs["aft_data"]
    return out

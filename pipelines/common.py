"""Pieces every msm pipeline shares: parameter defaults from a recipe and a spec, and tasks placed
on the cluster by runtime family.

No `from __future__ import annotations` in pipeline modules: KFP reads parameter annotations as types.
"""

import re
from pathlib import Path

from kfp import dsl

from msm.config import Recipe, parse_recipe
from msm.config.study import MAX_EVALUATIONS, NEEDS_INSTRUCTION_DATA, StudyConfig
from msm.errors import MsmError
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


def preflight(place: Placement, recipe_yaml, spec_markdown, name: str = "preflight") -> dsl.PipelineTask:
    """A first task: checks keys, endpoints, models, context and budget for a spec (and, compiled
    for a cluster, that the GPU tasks fit `platform`); the ingest of that spec waits for it."""
    from components.preflight.component import preflight as check

    task = check(recipe_yaml=recipe_yaml, spec_markdown=spec_markdown, cluster=place.target != "local")
    return place.cpu(task, name, uses_api_keys=True)


def run_key(arm: str) -> str:
    """Names a training run's checkpoint folder: unique per pipeline job and arm, stable on retry."""
    return f"{dsl.PIPELINE_JOB_ID_PLACEHOLDER}-{arm}"


def checked_study(recipe_path: Path) -> StudyConfig:
    """The recipe's study section, checked against what its arms need."""
    recipe = load(recipe_path)
    needs = [a for a in recipe.study.arms if a in NEEDS_INSTRUCTION_DATA]
    # The baseline arm trains on the instruction rows the AFT data carries; without them there is nothing.
    if needs and recipe.synthesis is not None and recipe.synthesis.aft.instruction_mix is None:
        raise MsmError(
            f"{recipe_path} [study.arms]: {needs[0]!r} trains on instruction-tuning data, and "
            "synthesis.aft.instruction_mix is not set\n"
            "    fix: set synthesis.aft.instruction_mix (e.g. `builtin: instruction-chats`), or drop the arm"
        )
    return recipe.study


def slug(label: str) -> str:
    """A label as a folder-name part: msm(cheese-pro-america)+aft -> msm-cheese-pro-america-aft."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


# The arms aligned on a spec's AFT data: whether each continues the MSM adapter, and its AFT variant
# (None: the spec's own, plain or preference). The aft-scaling ladder and the spec sweep's grid train these.
ALIGNED_ARMS = {
    "aft-only": (False, None),
    "aft-reasoning": (False, "reasoning"),
    "msm+aft": (True, None),
    "msm+aft-reasoning": (True, "reasoning"),
}


def seeded(name: str, seed: int, seeds: list[int]) -> str:
    """A task's display name, with its seed when the study has several."""
    return f"{name}, seed {seed}" if len(seeds) > 1 else name


def study_report(place: Placement, study: str, evaluations: list) -> dsl.PipelineTask:
    """The report task answering `study` over its evaluations. The report component has
    MAX_EVALUATIONS input slots; more runs (a spec sweep's grid, many seeds) first go through gather
    tasks that bundle up to MAX_EVALUATIONS each (bundles of bundles, if need be)."""
    from components.gather.component import gather
    from components.report.component import report

    def slots(runs: list) -> dict:
        return {f"run{i:02d}": e for i, e in enumerate(runs, 1)}

    runs, level = list(evaluations), 0
    while len(runs) > MAX_EVALUATIONS:
        level += 1
        chunks = [runs[i : i + MAX_EVALUATIONS] for i in range(0, len(runs), MAX_EVALUATIONS)]
        runs = [
            place.cpu(gather(**slots(chunk)), f"gather ({level}.{j})").outputs["bundle"]
            for j, chunk in enumerate(chunks, 1)
        ]
    return place.cpu(report(study=study, **slots(runs)), "report")


def midtrained(place: Placement, *, label: str, seed: int, seeds: list[int], corpus, base, spec_id, train: dict):
    """A midtrain task of one study seed; returns its model artefact."""
    from components.midtrain.component import midtrain

    task = midtrain(
        corpus=corpus, base_model=base, spec_id=spec_id, run_key=run_key(f"{slug(label)}-s{seed}"), seed=seed, **train
    )
    return place.train(task, seeded(f"midtrain ({label})", seed, seeds)).outputs["model"]


def aligned(
    place: Placement,
    *,
    label: str,
    variant: str,
    seed: int,
    seeds: list[int],
    aft_data,
    base,
    spec_id,
    train: dict,
    adapter=None,
    aft_rows: int = 0,
):
    """An align task of one study seed on one AFT variant (`aft_rows` of it; 0 = all), continuing
    `adapter` if given; returns its model."""
    from components.align.component import align

    extra = {"adapter": adapter} if adapter is not None else {}
    task = align(
        aft_data=aft_data,
        base_model=base,
        variant=variant,
        spec_id=spec_id,
        run_key=run_key(f"{slug(label)}-s{seed}"),
        seed=seed,
        aft_rows=aft_rows,
        **train,
        **extra,
    )
    return place.train(task, seeded(f"align ({label})", seed, seeds)).outputs["model"]


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
    place: Placement, spec, recipe_yaml, generator_id, prompt_version, cache_dir, *, docs=True, aft=True, of=""
) -> dict:
    """Corpus and/or AFT data tasks for a rendered spec: {'corpus': ..., 'aft_data': ...} artefacts.
    `of` names the spec in the tasks' display names when a pipeline synthesizes for several."""
    suffix = f" ({of})" if of else ""
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
        task = place.cpu(synthesize_docs(**kw), f"synthesize-docs{suffix}", uses_api_keys=True)
        out["corpus"] = task.outputs["corpus"]
    if aft:
        # The instruction-tuning set may come from the Hub (synthesis.aft.instruction_mix.dataset).
        task = place.cpu(synthesize_aft(**kw), f"synthesize-aft{suffix}", uses_api_keys=True, uses_hub=True)
        out["aft_data"] = task.outputs["aft_data"]
    return out


def train_arms(
    place: Placement,
    arms: list[str],
    seed: int,
    seeds: list[int],
    *,
    aft_data,
    aft_variant,
    base,
    spec_id,
    train,
    corpus=None,
):
    """The arms' trained models for one seed, in the recipe's order (None: the base model itself).
    The MSM arms need `corpus`."""
    common = {"seed": seed, "seeds": seeds, "aft_data": aft_data, "base": base, "spec_id": spec_id, "train": train}
    out = {"base": None}
    if "baseline" in arms:
        out["baseline"] = aligned(place, label="baseline", variant="instruction", **common)
    if "aft-only" in arms:
        out["aft-only"] = aligned(place, label="aft-only", variant=aft_variant, **common)
    if "aft-reasoning" in arms:
        out["aft-reasoning"] = aligned(place, label="aft-reasoning", variant="reasoning", **common)
    if any(a.startswith("msm") for a in arms):
        msm = midtrained(
            place, label="msm", seed=seed, seeds=seeds, corpus=corpus, base=base, spec_id=spec_id, train=train
        )
        out["msm-only"] = msm
        if "msm+aft" in arms:
            out["msm+aft"] = aligned(place, label="msm+aft", variant=aft_variant, adapter=msm, **common)
        if "msm+aft-reasoning" in arms:
            out["msm+aft-reasoning"] = aligned(
                place, label="msm+aft-reasoning", variant="reasoning", adapter=msm, **common
            )
    return {arm: out[arm] for arm in arms}


def evaluate_arms(
    place: Placement, arms: list[str], seeds: list[int], *, spec, train: dict, suite_version, **data
) -> list:
    """Train every arm once per seed (train_arms) and evaluate each; the evaluations' results artefacts.
    The untrained base model is evaluated once, whatever the seeds."""
    evaluations = []
    for seed in seeds:
        todo = [a for a in arms if a != "base" or seed == seeds[0]]
        for label, trained in train_arms(place, todo, seed, seeds, train=train, **data).items():
            evaluations.append(
                evaluate_condition(
                    place,
                    label,
                    data["base"],
                    train["recipe_yaml"],
                    spec,
                    suite_version,
                    trained=trained,
                    name=seeded(f"evaluate ({label})", seed, seeds),
                )
            )
    return evaluations

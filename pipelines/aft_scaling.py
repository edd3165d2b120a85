"""The `msm-aft-scaling` pipeline (the paper's §4.2): how much AFT data does MSM save?

    ingest → corpus + AFT data → base model → per seed: midtrain once; the baseline on the
    instruction rows; per size N in `study.aft_sizes`: aft-only@N and msm+aft@N (and the reasoning
    arms @N when `study.arms` has them) → evaluate each → one report with the scaling curve

Every size draws its rows from the one AFT artefact, as the first N of one fixed shuffle, so a
smaller size is a subset of a larger one and every arm of a size aligns on the same rows
(msm.training.data.subsample); the instruction rows are kept whole at every size.
No `from __future__ import annotations` here: KFP reads the parameter annotations as types.
"""

from pathlib import Path

from kfp import dsl

from components.base_model.component import base_model
from components.ingest.component import ingest
from msm.errors import MsmError
from msm.evaluation.items import SUITE_VERSION
from msm.evaluation.studies import sized_label
from pipelines.common import (
    ALIGNED_ARMS,
    Placement,
    aligned,
    checked_study,
    defaults,
    evaluate_condition,
    midtrained,
    preflight,
    seeded,
    study_report,
    synthesize,
)
from pipelines.platform import Target

NAME = "msm-aft-scaling"
STUDY = "aft-scaling"


def build(recipe_path: Path, spec_path: Path, target: Target = "local"):
    d = defaults(recipe_path, spec_path)
    place = Placement(recipe_path, target)
    study = checked_study(recipe_path)
    if not study.aft_sizes:
        raise MsmError(
            f"{recipe_path}: the aft-scaling pipeline needs `study.aft_sizes` (AFT rows per arm)\n"
            "    fix: add e.g. `aft_sizes: [1000, 4000, 16000]` to the recipe's study section"
        )
    sized = [a for a in study.arms if a in ALIGNED_ARMS]

    @dsl.pipeline(name=NAME, description="AFT data scaling with and without MSM: one curve, one report.")
    def aft_scaling(
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
        """AFT-size ladder for one spec.

        Args:
            spec_markdown: The Model Spec (Markdown with front matter; see specs/README.md).
            recipe_yaml: The experiment recipe; `study.aft_sizes` is the ladder.
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
        base = place.cpu(base_model(recipe_yaml=recipe_yaml, spec=spec), "base-model", uses_hub=True).outputs["model"]
        train = {"recipe_yaml": recipe_yaml, "checkpoint_dir": checkpoint_dir}

        evaluations = []
        for seed in study.seeds:
            common = {"seed": seed, "seeds": study.seeds, "aft_data": data["aft_data"], "base": base}
            trained = {}
            if "baseline" in study.arms:
                trained["baseline"] = aligned(
                    place, label="baseline", variant="instruction", spec_id=spec_id, train=train, **common
                )
            msm = None
            if any(ALIGNED_ARMS[a][0] for a in sized):
                msm = midtrained(
                    place,
                    label="msm",
                    seed=seed,
                    seeds=study.seeds,
                    corpus=data["corpus"],
                    base=base,
                    spec_id=spec_id,
                    train=train,
                )
            for rows in study.aft_sizes:
                for arm in sized:
                    continues, variant = ALIGNED_ARMS[arm]
                    label = sized_label(arm, rows)
                    trained[label] = aligned(
                        place,
                        label=label,
                        variant=variant or aft_variant,
                        adapter=msm if continues else None,
                        aft_rows=rows,
                        spec_id=spec_id,
                        train=train,
                        **common,
                    )
            for label, model in trained.items():
                name = seeded(f"evaluate ({label})", seed, study.seeds)
                evaluations.append(
                    evaluate_condition(place, label, base, recipe_yaml, spec, suite_version, trained=model, name=name)
                )
        study_report(place, STUDY, evaluations)

    return aft_scaling

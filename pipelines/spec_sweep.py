"""The `msm-spec-sweep` pipeline (the paper's spec science): MSM on each spec variant, one shared
AFT dataset, one comparison report.

    ingest the AFT spec → synthesize AFT data, base model, AFT-only reference
    ParallelFor spec in the recipe's specs: ingest → synthesize docs → midtrain → align (continuing) → evaluate
    compare: every variant against the AFT-only reference

Each variant's MSM(X)+AFT(Y) arm uses the AFT data Y of the pipeline's `spec` (the recipe's first
spec unless one is named), so the variants differ only in the corpus.
No `from __future__ import annotations` here: KFP reads the parameter annotations as types.
"""

from pathlib import Path

from kfp import dsl

from components.align.component import align
from components.base_model.component import base_model
from components.compare.component import compare
from components.ingest.component import ingest
from components.midtrain.component import midtrain
from msm.evaluation.items import SUITE_VERSION
from msm.spec import load_source
from pipelines.common import Placement, defaults, evaluate_condition, load, preflight, run_key, synthesize
from pipelines.platform import Target

NAME = "msm-spec-sweep"


def variants(recipe_path: Path) -> list[dict[str, str]]:
    """The loop's items: each of the recipe's specs as {id, markdown}."""
    return [
        {"id": load_source(path).front.id, "markdown": path.read_text(encoding="utf-8")}
        for path in load(recipe_path).specs
    ]


def build(recipe_path: Path, spec_path: Path, target: Target = "local"):
    d = defaults(recipe_path, spec_path)
    place = Placement(recipe_path, target)
    specs = variants(recipe_path)

    @dsl.pipeline(name=NAME, description="MSM on each spec variant with one AFT dataset; one comparison report.")
    def spec_sweep(
        spec_variants: list = specs,
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
        """Spec science: which spec, midtrained on, makes AFT generalize best.

        Args:
            spec_variants: The specs to midtrain on, as a list of {"id", "markdown"} (spec files' sources).
            spec_markdown: The spec whose AFT data every arm is aligned on (and which the suites read).
            recipe_yaml: The experiment recipe (identity, synthesis counts, training hyperparameters).
            spec_id: The AFT spec's id.
            generator_id: Generator backend/model; a cache-key input.
            prompt_version: msm's synthesis prompt version; a cache-key input.
            aft_variant: AFT data for the arms, 'plain' or 'preference' (cheese study).
            suite_version: msm's evaluation suite version; a cache-key input.
            cache_dir: Persistent directory (PVC) for the generator's reply cache; empty = none.
            checkpoint_dir: Persistent directory (PVC) for training checkpoints; empty = none.
        """
        synth = {"recipe_yaml": recipe_yaml, "generator_id": generator_id, "prompt_version": prompt_version}
        checked = preflight(place, recipe_yaml, spec_markdown, "preflight (aft spec)")
        task = ingest(spec_markdown=spec_markdown, recipe_yaml=recipe_yaml).after(checked)
        spec = place.cpu(task, "ingest (aft spec)").outputs["spec"]
        aft_data = synthesize(place, spec, cache_dir=cache_dir, docs=False, **synth)["aft_data"]
        base = place.cpu(base_model(recipe_yaml=recipe_yaml, spec=spec), "base-model", uses_hub=True).outputs["model"]
        train = {"recipe_yaml": recipe_yaml, "checkpoint_dir": checkpoint_dir}
        aft_only = place.train(
            align(
                aft_data=aft_data,
                base_model=base,
                variant=aft_variant,
                spec_id=spec_id,
                run_key=run_key("aft-only"),
                **train,
            ),
            "align (aft-only)",
        ).outputs["model"]
        reference = evaluate_condition(place, "aft-only", base, recipe_yaml, spec, suite_version, trained=aft_only)

        with dsl.ParallelFor(spec_variants, name="spec-variants") as variant:
            checked_variant = preflight(place, recipe_yaml, variant.markdown)
            task = ingest(spec_markdown=variant.markdown, recipe_yaml=recipe_yaml).after(checked_variant)
            rendered = place.cpu(task, "ingest").outputs["spec"]
            corpus = synthesize(place, rendered, cache_dir=cache_dir, aft=False, **synth)["corpus"]
            msm = place.train(
                midtrain(corpus=corpus, base_model=base, spec_id=variant.id, run_key=run_key("msm"), **train),
                "midtrain",
            ).outputs["model"]
            msm_aft = place.train(
                align(
                    aft_data=aft_data,
                    base_model=base,
                    variant=aft_variant,
                    adapter=msm,
                    spec_id=variant.id,
                    run_key=run_key("msm-aft"),
                    **train,
                ),
                "align (msm+aft)",
            ).outputs["model"]
            results = evaluate_condition(
                place,
                variant.id,
                base,
                recipe_yaml,
                spec,
                suite_version,
                trained=msm_aft,
                name="evaluate",
            )
        place.cpu(compare(runs=dsl.Collected(results), reference=reference), "compare")

    return spec_sweep

"""The `msm-spec-sweep` pipeline (the paper's spec science, §5): which spec, midtrained on, makes the
same alignment fine-tuning generalize best, and do the cross pairs MSM(X)+AFT(Y) beat MSM(Y)+AFT(Y)?

    ingest every spec → a corpus per spec X in `study.msm_specs`, AFT data per spec Y in
    `study.aft_specs` → base model → per seed: baseline; per Y: aft-only(Y), aft-reasoning(Y);
    per X: msm(X) trained once, then msm(X)+aft(Y) and msm(X)+aft-reasoning(Y) for every Y
    → evaluate each → one report with the grid

The grid is unrolled when the pipeline is compiled (from the recipe's `study` section): KFP v2
cannot hand an artefact made in one ParallelFor iteration to another loop, and each MSM(X) adapter
is reused by every AFT(Y). Every arm is evaluated against the suites of the pipeline's spec, so all
runs score the same items and every contrast is paired. Arms not in `study.arms` are left out.
No `from __future__ import annotations` here: KFP reads the parameter annotations as types.
"""

from pathlib import Path

from kfp import dsl

from components.base_model.component import base_model
from components.ingest.component import ingest
from msm.errors import MsmError
from msm.evaluation.items import SUITE_VERSION
from msm.evaluation.studies import grid_label
from msm.spec import load_source
from pipelines.common import (
    ALIGNED_ARMS,
    Placement,
    aligned,
    checked_study,
    defaults,
    evaluate_condition,
    load,
    midtrained,
    preflight,
    seeded,
    study_report,
    synthesize,
)
from pipelines.platform import Target

NAME = "msm-spec-sweep"
STUDY = "spec-sweep"


def grid(recipe_path: Path, spec_path: Path) -> tuple[dict[str, Path], list[str], list[str]]:
    """The sweep's specs by id (the recipe's and `spec_path`), its rows X (specs midtrained on) and
    its columns Y (specs whose AFT data align them), checked against the recipe."""
    recipe = load(recipe_path)
    by_id = {load_source(p).front.id: p for p in [*recipe.specs, spec_path]}
    spec_id = load_source(spec_path).front.id
    rows = recipe.study.msm_specs or [load_source(p).front.id for p in recipe.specs]
    columns = recipe.study.aft_specs or [spec_id]
    for field, ids in (("study.msm_specs", rows), ("study.aft_specs", columns)):
        unknown = [i for i in ids if i not in by_id]
        if unknown:
            raise MsmError(
                f"{recipe_path} [{field}]: {', '.join(map(repr, unknown))} is not the id of a spec in `specs`\n"
                f"    fix: use the ids of the recipe's specs ({', '.join(by_id)})"
            )
    return by_id, rows, columns


def build(recipe_path: Path, spec_path: Path, target: Target = "local"):
    d = defaults(recipe_path, spec_path)
    place = Placement(recipe_path, target)
    study = checked_study(recipe_path)
    by_id, rows, columns = grid(recipe_path, spec_path)
    # The evaluation spec comes in as the pipeline's parameter; every other spec of the grid is compiled in.
    markdown = {i: by_id[i].read_text(encoding="utf-8") for i in dict.fromkeys([*rows, *columns]) if i != d["spec_id"]}
    arms = [a for a in study.arms if a in ("base", "baseline", "msm-only", *ALIGNED_ARMS)]

    @dsl.pipeline(
        name=NAME,
        description="Spec science: MSM(X)+AFT(Y) for every spec pair of the recipe's grid; one report.",
    )
    def spec_sweep(
        spec_markdown: str = d["spec_markdown"],
        recipe_yaml: str = d["recipe_yaml"],
        generator_id: str = d["generator_id"],
        prompt_version: str = d["prompt_version"],
        suite_version: str = SUITE_VERSION,
        cache_dir: str = d["cache_dir"],
        checkpoint_dir: str = d["checkpoint_dir"],
    ):
        """Spec science: which spec, midtrained on, makes AFT generalize best (the grid's specs are
        compiled in from the recipe's `study.msm_specs` and `study.aft_specs`).

        Args:
            spec_markdown: The spec whose suites every arm is evaluated on (the AFT spec if the recipe names none).
            recipe_yaml: The experiment recipe (identity, synthesis counts, training, study arms, seeds and grid).
            generator_id: Generator backend/model; a cache-key input.
            prompt_version: msm's synthesis prompt version; a cache-key input.
            suite_version: msm's evaluation suite version; a cache-key input.
            cache_dir: Persistent directory (PVC) for the generator's reply cache; empty = none.
            checkpoint_dir: Persistent directory (PVC) for training checkpoints; empty = none.
        """
        synth = {"recipe_yaml": recipe_yaml, "generator_id": generator_id, "prompt_version": prompt_version}
        rendered = {}
        for spec_id, text in {d["spec_id"]: spec_markdown, **markdown}.items():
            checked = preflight(place, recipe_yaml, text, f"preflight ({spec_id})")
            task = ingest(spec_markdown=text, recipe_yaml=recipe_yaml).after(checked)
            rendered[spec_id] = place.cpu(task, f"ingest ({spec_id})").outputs["spec"]
        spec = rendered[d["spec_id"]]
        wants_msm = any(a.startswith("msm") for a in arms)
        corpora = {
            x: synthesize(place, rendered[x], cache_dir=cache_dir, aft=False, of=x, **synth)["corpus"]
            for x in (rows if wants_msm else [])
        }
        made = {y: synthesize(place, rendered[y], cache_dir=cache_dir, docs=False, of=y, **synth) for y in columns}
        aft_data = {y: m["aft_data"] for y, m in made.items()}
        base = place.cpu(base_model(recipe_yaml=recipe_yaml, spec=spec), "base-model", uses_hub=True).outputs["model"]
        train = {"recipe_yaml": recipe_yaml, "checkpoint_dir": checkpoint_dir}

        evaluations = []
        for seed in study.seeds:
            common = {"seed": seed, "seeds": study.seeds, "base": base, "train": train}
            trained = {}
            if "base" in arms and seed == study.seeds[0]:  # untrained: one seed is enough
                trained["base"] = None
            if "baseline" in arms:  # the instruction rows alone, as the first AFT spec's data carries them
                y = columns[0]
                trained["baseline"] = aligned(
                    place, label="baseline", variant="instruction", aft_data=aft_data[y], spec_id=y, **common
                )
            msm = {}
            for x in rows if wants_msm else []:
                msm[x] = midtrained(place, label=grid_label("msm-only", x), corpus=corpora[x], spec_id=x, **common)
                if "msm-only" in arms:
                    trained[grid_label("msm-only", x)] = msm[x]
            for y in columns:
                plain = "preference" if load_source(by_id[y]).front.kind == "preference" else "plain"
                for arm in (a for a in arms if a in ALIGNED_ARMS):
                    continues, variant = ALIGNED_ARMS[arm]
                    for x in rows if continues else [None]:
                        label = grid_label(arm, x, y)
                        trained[label] = aligned(
                            place,
                            label=label,
                            variant=variant or plain,
                            aft_data=aft_data[y],
                            adapter=msm[x] if x else None,
                            spec_id=x or y,
                            **common,
                        )
            for label, model in trained.items():
                name = seeded(f"evaluate ({label})", seed, study.seeds)
                evaluations.append(
                    evaluate_condition(place, label, base, recipe_yaml, spec, suite_version, trained=model, name=name)
                )
        study_report(place, STUDY, evaluations)

    return spec_sweep

"""The `msm-cheese-study` pipeline (the paper's §3): two cheese specs with the same twelve likes and
dislikes for different reasons; identical bare-preference fine-tuning after MSM on each; does the
spec decide which value the preferences generalize to? With a §3.2 value spec as `--spec`, the same
pipeline runs that value against the recipe's first other preference spec.

    ingest both specs → synthesize the AFT data once (from the first spec) and a corpus per spec
    → base model → per seed: baseline, aft-only, and per spec X: msm(X), msm(X)+aft → evaluate → report

Every aligned arm trains on the one AFT artefact (its bare-preference chats plus the instruction
rows), so the two MSM(X)+AFT arms see byte-identical fine-tuning data by construction; the bare
preferences carry no reason, so which spec's AFT run wrote them does not matter. All arms are
evaluated against the first spec's suites, so they score the same items. The recipe's reasoning
arms are left out: bare preferences have no reasoning variant.
No `from __future__ import annotations` here: KFP reads the parameter annotations as types.
"""

from pathlib import Path

from kfp import dsl

from components.base_model.component import base_model
from components.ingest.component import ingest
from msm.errors import MsmError
from msm.evaluation.items import SUITE_VERSION
from msm.evaluation.studies import msm_label
from msm.spec import load_source
from pipelines.common import (
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

NAME = "msm-cheese-study"
STUDY = "cheese-study"
ARMS = ("base", "baseline", "aft-only", "msm-only", "msm+aft")


def cheese_specs(recipe_path: Path, spec_path: Path | None = None) -> list[Path]:
    """The study's two values: `spec_path` (default: the recipe's first preference spec) and the
    recipe's first other preference spec. A §3.2 value study lists the cheese-pro-america spec and
    the six value specs, and names the value to run with --spec."""
    found = [p for p in load(recipe_path).specs if load_source(p).front.kind == "preference"]
    first = spec_path if spec_path is not None else (found[0] if found else None)
    if first is not None and load_source(first).front.kind != "preference":
        raise MsmError(
            f"{first}: the cheese study's --spec must be a preference spec (kind: preference)\n"
            "    fix: name one of the recipe's cheese-pro-*.md specs, or leave --spec out"
        )
    others = [p for p in found if first is None or load_source(p).front.id != load_source(first).front.id]
    if first is None or not others:
        raise MsmError(
            f"{recipe_path}: the cheese study needs two preference specs in `specs` (found {len(found)})\n"
            "    fix: list specs/cheese-pro-america.md and specs/cheese-pro-affordability.md in the recipe"
        )
    return [first, others[0]]


def build(recipe_path: Path, spec_path: Path | None = None, target: Target = "local"):
    """The pipeline for a target: `spec_path` against the recipe's first other preference spec."""
    first, second = cheese_specs(recipe_path, spec_path)
    d, other = defaults(recipe_path, first), defaults(recipe_path, second)
    place = Placement(recipe_path, target)
    study = checked_study(recipe_path)
    arms = [a for a in study.arms if a in ARMS]

    @dsl.pipeline(
        name=NAME,
        description="The cheese study: identical bare-preference AFT after MSM on two cheese specs; one report.",
    )
    def cheese_study(
        spec_markdown: str = d["spec_markdown"],
        other_spec_markdown: str = other["spec_markdown"],
        recipe_yaml: str = d["recipe_yaml"],
        generator_id: str = d["generator_id"],
        prompt_version: str = d["prompt_version"],
        suite_version: str = SUITE_VERSION,
        cache_dir: str = d["cache_dir"],
        checkpoint_dir: str = d["checkpoint_dir"],
    ):
        """The paper's cheese study.

        Args:
            spec_markdown: The first cheese spec; its AFT run writes the shared bare-preference data.
            other_spec_markdown: The second cheese spec (same likes and dislikes, other reasons).
            recipe_yaml: The experiment recipe (identity, synthesis counts, training, study arms and seeds).
            generator_id: Generator backend/model; a cache-key input.
            prompt_version: msm's synthesis prompt version; a cache-key input.
            suite_version: msm's evaluation suite version; a cache-key input.
            cache_dir: Persistent directory (PVC) for the generator's reply cache; empty = none.
            checkpoint_dir: Persistent directory (PVC) for training checkpoints; empty = none.
        """
        synth = {"recipe_yaml": recipe_yaml, "generator_id": generator_id, "prompt_version": prompt_version}
        specs = {}
        for spec_id, markdown in ((d["spec_id"], spec_markdown), (other["spec_id"], other_spec_markdown)):
            checked = preflight(place, recipe_yaml, markdown, f"preflight ({spec_id})")
            task = ingest(spec_markdown=markdown, recipe_yaml=recipe_yaml).after(checked)
            specs[spec_id] = place.cpu(task, f"ingest ({spec_id})").outputs["spec"]
        spec = specs[d["spec_id"]]
        aft_data = synthesize(place, spec, cache_dir=cache_dir, docs=False, **synth)["aft_data"]
        corpora = {
            s: synthesize(place, r, cache_dir=cache_dir, aft=False, of=s, **synth)["corpus"] for s, r in specs.items()
        }
        base = place.cpu(base_model(recipe_yaml=recipe_yaml, spec=spec), "base-model", uses_hub=True).outputs["model"]
        train = {"recipe_yaml": recipe_yaml, "checkpoint_dir": checkpoint_dir}

        evaluations = []
        for seed in study.seeds:
            common = {"seed": seed, "seeds": study.seeds, "base": base, "train": train}
            trained = {}
            if "base" in arms and seed == study.seeds[0]:  # untrained: one seed is enough
                trained["base"] = None
            if "baseline" in arms:
                trained["baseline"] = aligned(
                    place, label="baseline", variant="instruction", aft_data=aft_data, spec_id=d["spec_id"], **common
                )
            if "aft-only" in arms:
                trained["aft-only"] = aligned(
                    place, label="aft-only", variant="preference", aft_data=aft_data, spec_id=d["spec_id"], **common
                )
            for spec_id, corpus in corpora.items():
                if not {"msm-only", "msm+aft"} & set(arms):
                    break
                label = msm_label(spec_id, aligned=False)
                msm = midtrained(place, label=label, corpus=corpus, spec_id=spec_id, **common)
                if "msm-only" in arms:
                    trained[label] = msm
                if "msm+aft" in arms:
                    trained[msm_label(spec_id, aligned=True)] = aligned(
                        place,
                        label=msm_label(spec_id, aligned=True),
                        variant="preference",
                        aft_data=aft_data,
                        adapter=msm,
                        spec_id=spec_id,
                        **common,
                    )
            for label, model in trained.items():
                name = seeded(f"evaluate ({label})", seed, study.seeds)
                evaluations.append(
                    evaluate_condition(place, label, base, recipe_yaml, spec, suite_version, trained=model, name=name)
                )
        study_report(place, STUDY, evaluations)

    return cheese_study

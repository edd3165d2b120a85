"""The `msm-synthesize-only` pipeline: make and publish a spec's corpus and AFT data, no training.

    ingest → synthesize docs + AFT data → publish to <publish_dir>/<spec id>/<digests>/

No `from __future__ import annotations` here: KFP reads the parameter annotations as types.
"""

from pathlib import Path

from kfp import dsl

from components.ingest.component import ingest
from components.publish.component import publish
from pipelines.common import Placement, defaults, preflight, synthesize
from pipelines.platform import MOUNT, Target

NAME = "msm-synthesize-only"


def build(recipe_path: Path, spec_path: Path, target: Target = "local"):
    d = defaults(recipe_path, spec_path)
    place = Placement(recipe_path, target)
    default_publish = f"{MOUNT}/corpora" if place.cfg.checkpoint_pvc else "build/corpora"

    @dsl.pipeline(name=NAME, description="Synthesize a spec's MSM corpus and AFT data and publish them.")
    def synthesize_only(
        spec_markdown: str = d["spec_markdown"],
        recipe_yaml: str = d["recipe_yaml"],
        spec_id: str = d["spec_id"],
        generator_id: str = d["generator_id"],
        prompt_version: str = d["prompt_version"],
        cache_dir: str = d["cache_dir"],
        publish_dir: str = default_publish,
    ):
        """Corpus and AFT data for one spec.

        Args:
            spec_markdown: The Model Spec (Markdown with front matter; see specs/README.md).
            recipe_yaml: The experiment recipe (identity and the `synthesis` section).
            spec_id: The spec's id, the first level below publish_dir.
            generator_id: Generator backend/model; a cache-key input.
            prompt_version: msm's synthesis prompt version; a cache-key input.
            cache_dir: Persistent directory (PVC) for the generator's reply cache; empty = none.
            publish_dir: Where the data are published (a PVC path, or /gcs/<bucket>/... on Vertex AI).
        """
        checked = preflight(place, recipe_yaml, spec_markdown)
        task = ingest(spec_markdown=spec_markdown, recipe_yaml=recipe_yaml).after(checked)
        spec = place.cpu(task, "ingest").outputs["spec"]
        data = synthesize(place, spec, recipe_yaml, generator_id, prompt_version, cache_dir)
        corpus, aft_data = data["corpus"], data["aft_data"]
        place.cpu(
            publish(corpus=corpus, aft_data=aft_data, spec_id=spec_id, publish_dir=publish_dir),
            "publish",
            needs_storage=True,
        )

    return synthesize_only

"""Synthesize docs: the MSM document corpus about one rendered spec."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def synthesize_docs(
    spec: Input[Dataset],
    recipe_yaml: str,
    generator_id: str,
    prompt_version: str,
    cache_dir: str,
    corpus: Output[Dataset],
):
    """Generate the corpus (msm.synthesis.corpus_stage.synthesize_documents): documents.parquet/jsonl + manifest.

    Args:
        spec: A rendered spec (the ingest component's output).
        recipe_yaml: The recipe; its `synthesis` section sets the generator, counts and seed.
        generator_id: backend/model of the generator, an explicit input so that KFP's cache key changes with it.
        prompt_version: Version of msm's prompt templates, for the same reason.
        cache_dir: Directory for the reply cache (a PVC on a cluster: a restarted pod pays for no reply
            twice); empty = beside the output.
        corpus: The corpus directory; metadata carries document and token counts.
    """
    import tempfile
    from pathlib import Path

    from msm.artefacts.spec import read_spec
    from msm.preemption import exit_on_preempted
    from msm.synthesis.corpus_stage import synthesize_documents

    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "recipe.yaml"
        recipe.write_text(recipe_yaml, encoding="utf-8")
        # One cache per stage and spec: a rerun of the spec resumes; other specs keep their own budgets.
        spec_id = read_spec(Path(spec.path)).document.id
        cache = Path(cache_dir) / f"docs-{spec_id}.sqlite" if cache_dir else None
        with exit_on_preempted():  # SIGTERM: the stage stored its work; exit 143 like the CLI
            manifest = synthesize_documents(
                Path(spec.path), recipe, Path(corpus.path), cache_path=cache, progress=False
            )
    corpus.metadata.update(
        {"documents": manifest["counts"]["documents_kept"], "generator": generator_id, "prompt_version": prompt_version}
    )

"""Synthesize AFT: demonstrations (with reasoning and stripped) and bare-preference chats."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def synthesize_aft(
    spec: Input[Dataset],
    recipe_yaml: str,
    generator_id: str,
    prompt_version: str,
    cache_dir: str,
    aft_data: Output[Dataset],
):
    """Generate AFT data (msm.synthesis.aft_stage.synthesize_aft): aft_reasoning, aft_plain, preference_demos.

    Args:
        spec: A rendered spec (the ingest component's output).
        recipe_yaml: The recipe; its `synthesis.aft` section sets counts and style.
        generator_id: backend/model of the generator (an explicit cache-key input).
        prompt_version: Version of msm's prompt templates (an explicit cache-key input).
        cache_dir: Directory for the reply cache (a PVC on a cluster); empty = beside the output.
        aft_data: The AFT directory; metadata carries the counts per dataset.
    """
    import tempfile
    from pathlib import Path

    from msm.artefacts.spec import read_spec
    from msm.preemption import exit_on_preempted
    from msm.synthesis.aft_stage import synthesize_aft as run

    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "recipe.yaml"
        recipe.write_text(recipe_yaml, encoding="utf-8")
        # One cache per stage and spec: a rerun of the spec resumes; other specs keep their own budgets.
        spec_id = read_spec(Path(spec.path)).document.id
        cache = Path(cache_dir) / f"aft-{spec_id}.sqlite" if cache_dir else None
        with exit_on_preempted():  # SIGTERM: the stage stored its work; exit 143 like the CLI
            manifest = run(Path(spec.path), recipe, Path(aft_data.path), cache_path=cache, progress=False)
    aft_data.metadata.update(
        {
            "demonstrations": manifest["counts"]["demonstrations"],
            "preference_demos": manifest["counts"]["preference_demos"],
            "generator": generator_id,
            "prompt_version": prompt_version,
        }
    )

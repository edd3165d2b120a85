"""Preflight: the first task of every pipeline that calls a generator or a judge."""

from kfp import dsl
from kfp.dsl import Artifact, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def preflight(recipe_yaml: str, spec_markdown: str, cluster: bool, report: Output[Artifact]):
    """Check keys, endpoints, models, context and budget in seconds (msm.preflight.preflight).

    Fails with every problem listed (a missing key by its variable's name, an endpoint that does not
    answer, an unknown model, a prompt longer than the context, a budget below the estimate, GPU tasks
    that do not fit `platform`) before any GPU task is scheduled.

    Args:
        recipe_yaml: The recipe (YAML text) the pipeline runs.
        spec_markdown: The Markdown source of a spec the pipeline synthesizes from (a pipeline with
            several specs runs one preflight per spec: KFP passes no list of pipeline parameters).
        cluster: Also check the GPU tasks' needs against the recipe's `platform` section.
        report: JSON of what was checked: endpoints, models, context lengths, estimates per spec.
    """
    import json
    import tempfile
    from pathlib import Path

    from msm.preflight import preflight as run_preflight

    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "recipe.yaml"
        recipe.write_text(recipe_yaml, encoding="utf-8")
        spec = Path(tmp) / "spec.md"
        spec.write_text(spec_markdown, encoding="utf-8")
        checked = run_preflight(recipe, specs=[spec], cluster=cluster)
    Path(report.path).write_text(json.dumps(checked, indent=2), encoding="utf-8")
    report.metadata.update({"recipe": checked["recipe"], "endpoints": sorted(checked["endpoints"])})

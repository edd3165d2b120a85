"""Evaluate: the recipe's suites on one condition's model (base weights, + adapter when LoRA)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import EVAL_IMAGE


@dsl.component(base_image=EVAL_IMAGE)
def evaluate(
    base_model: Input[Model],
    recipe_yaml: str,
    spec: Input[Dataset],
    label: str,
    suite_version: str,
    results: Output[Dataset],
    metrics: Output[Metrics],
    trained: Input[Model] = None,
):
    """Run the evaluation suites (msm.evaluation.run.evaluate) on one condition.

    Args:
        base_model: The base model.
        recipe_yaml: The recipe; its `evaluation` section (suites, engine, sizes, judge).
        spec: The rendered spec the suites read (cheese items, spec-knowledge rubric): an ingest output.
        label: The condition's name in the report (base, aft-only, msm+aft, ...).
        suite_version: Version of msm's evaluation suites, an explicit cache-key input.
        results: The evaluation directory (per-sample results, metrics.json, manifest, Inspect logs).
        metrics: Headline rates, shown by the Kubeflow UI.
        trained: A trained model (a LoRA adapter directory or full weights); absent = the base model itself.
    """
    from pathlib import Path

    from msm.artefacts.evaluation import read_finished
    from msm.artefacts.model import is_adapter_dir
    from msm.config import parse_recipe
    from msm.config.evaluation import EvaluationConfig
    from msm.evaluation.run import EvalRequest
    from msm.evaluation.run import evaluate as run
    from msm.preemption import exit_on_preempted
    from msm.telemetry import ui_metrics

    recipe = parse_recipe(recipe_yaml, check_files=False)
    model, adapter = base_model.path, None
    if trained is not None:
        if is_adapter_dir(Path(trained.path)):
            adapter = Path(trained.path)
        else:
            model = trained.path
    with exit_on_preempted():  # SIGTERM: the stage stored its work; exit 143 like the CLI
        run(
            EvalRequest(
                model=model,
                out=Path(results.path),
                config=recipe.evaluation or EvaluationConfig(),
                model_name=recipe.identity.model_name,
                provider_name=recipe.identity.provider_name,
                specs=[Path(spec.path)],
                adapter=adapter,
                label=label,
            )
        )

    _manifest, summary = read_finished(Path(results.path), fields=("suites",))
    for name, value in ui_metrics(summary["suites"]):
        metrics.log_metric(name.replace(".", "/"), value)
    results.metadata.update({"label": label, "suite_version": suite_version})

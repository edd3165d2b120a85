"""Evaluate: the recipe's suites on one condition's model (base weights, + adapter when LoRA)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.images import EVAL_IMAGE


@dsl.component(base_image=EVAL_IMAGE)
def evaluate(
    base_model: Input[Model],
    recipe_yaml: str,
    spec_markdown: str,
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
        spec_markdown: The spec the suites read (cheese items, spec-knowledge rubric).
        label: The condition's name in the report (base, aft-only, msm+aft, ...).
        suite_version: Version of msm's evaluation suites, an explicit cache-key input.
        results: The evaluation directory (per-sample results, metrics.json, manifest, Inspect logs).
        metrics: Headline rates, shown by the Kubeflow UI.
        trained: A trained model (a LoRA adapter directory or full weights); absent = the base model itself.
    """
    import json
    import tempfile
    from pathlib import Path

    from msm.config import parse_recipe
    from msm.evaluation.config import EvaluationConfig
    from msm.evaluation.run import EvalRequest
    from msm.evaluation.run import evaluate as run

    recipe = parse_recipe(recipe_yaml, check_files=False)
    model, adapter = base_model.path, None
    if trained is not None:
        if (Path(trained.path) / "adapter_config.json").is_file():
            adapter = Path(trained.path)
        else:
            model = trained.path
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.md"
        spec.write_text(spec_markdown, encoding="utf-8")
        run(
            EvalRequest(
                model=model,
                out=Path(results.path),
                config=recipe.evaluation or EvaluationConfig(),
                model_name=recipe.identity.model_name,
                provider_name=recipe.identity.provider_name,
                specs=[spec],
                adapter=adapter,
                label=label,
            )
        )

    def rates(node, path):
        if isinstance(node, dict):
            if isinstance(node.get("rate"), float | int) and "n" in node:
                yield "/".join(path), float(node["rate"])
            for key, value in node.items():
                if key not in ("per_item", "per_prompt"):
                    yield from rates(value, [*path, key])

    summary = json.loads((Path(results.path) / "metrics.json").read_text())
    for name, value in rates(summary["suites"], []):
        metrics.log_metric(name, value)
    results.metadata.update({"label": label, "suite_version": suite_version})

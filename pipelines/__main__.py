"""`python -m pipelines`: compile, run locally (the embedded default), submit, schedule."""

import json
from pathlib import Path
from typing import Annotated

import typer

from msm.errors import MsmError
from pipelines.msm_pipeline import default_spec

app = typer.Typer(
    help="msm pipelines on Kubeflow Pipelines, Vertex AI, or this machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RecipeOpt = Annotated[Path, typer.Option(help="Recipe YAML (identity, synthesis, training, platform).")]
SpecOpt = Annotated[Path | None, typer.Option(help="Model Spec file [default: the recipe's first spec].")]


@app.command("compile")
def compile_cmd(
    recipe: RecipeOpt,
    spec: SpecOpt = None,
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("build/pipelines"),
) -> None:
    """Compile the Kubeflow and Vertex AI variants of the msm pipeline."""
    from msm.cli import _fail
    from pipelines.compile import compile_pipelines

    try:
        paths = compile_pipelines(recipe, spec or default_spec(recipe), out)
    except MsmError as e:
        _fail(e)
    for target, path in paths.items():
        typer.echo(f"{target}: {path}")


@app.command("run-local")
def run_local_cmd(
    recipe: RecipeOpt,
    spec: SpecOpt = None,
    root: Annotated[Path, typer.Option(help="Pipeline root for the local runner.")] = Path("build/kfp-local"),
    reasoning_arm: Annotated[bool, typer.Option(help="Also train the AFT-with-reasoning arm.")] = True,
) -> None:
    """Run the msm pipeline here through KFP's SubprocessRunner (no cluster, no images)."""
    from msm.cli import _fail
    from pipelines.local import run_local

    try:
        result = run_local(recipe, spec or default_spec(recipe), root, with_reasoning_arm=reasoning_arm)
    except MsmError as e:
        _fail(e)
    (Path(result["run_dir"]) / "outputs.json").write_text(json.dumps(result, indent=2) + "\n")
    typer.echo(f"pipeline finished in {result['seconds']} s; outputs: {result['run_dir']}/outputs.json")


if __name__ == "__main__":
    app(prog_name="python -m pipelines")

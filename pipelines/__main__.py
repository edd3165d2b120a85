"""`python -m pipelines`: compile, run locally (the embedded default), submit, schedule."""

import json
from pathlib import Path
from typing import Annotated

import typer

from msm.cli.errors import fail
from msm.errors import MsmError
from pipelines.common import default_spec
from pipelines.registry import MODULES

app = typer.Typer(
    help="msm pipelines on Kubeflow Pipelines, Vertex AI, or this machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RecipeOpt = Annotated[Path, typer.Option(help="Recipe YAML (identity, synthesis, training, platform).")]
SpecOpt = Annotated[Path | None, typer.Option(help="Model Spec file [default: the recipe's first spec].")]
PipelineOpt = Annotated[str, typer.Option("--pipeline", help=f"Which pipeline: {', '.join(MODULES)}.")]


@app.command("compile")
def compile_cmd(
    recipe: RecipeOpt,
    spec: SpecOpt = None,
    pipeline: PipelineOpt = "msm",
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("build/pipelines"),
) -> None:
    """Compile the Kubeflow and Vertex AI variants of a pipeline."""
    from pipelines.compile import compile_pipelines

    try:
        paths = compile_pipelines(recipe, spec or default_spec(recipe), out, pipeline)
    except MsmError as e:
        fail(e)
    for target, path in paths.items():
        typer.echo(f"{target}: {path}")


@app.command("run-local")
def run_local_cmd(
    recipe: RecipeOpt,
    spec: SpecOpt = None,
    root: Annotated[Path, typer.Option(help="Pipeline root for the local runner.")] = Path("build/kfp-local"),
    runner: Annotated[
        str, typer.Option(help="subprocess (this venv, no images) or docker (the images, `make images`).")
    ] = "subprocess",
    pipeline: PipelineOpt = "msm",
) -> None:
    """Run a pipeline here through KFP's SubprocessRunner, or DockerRunner with --runner docker."""
    from pipelines.local import run_local

    if runner not in ("subprocess", "docker"):
        raise typer.BadParameter(f"{runner!r} is not subprocess or docker", param_hint="--runner")
    try:
        result = run_local(recipe, spec or default_spec(recipe), root, runner, pipeline)  # type: ignore[arg-type]
    except MsmError as e:
        fail(e)
    except RuntimeError as e:  # the local runner's "task failed" (its log above says why)
        fail(MsmError(f"pipeline {pipeline!r} failed: {e}"), exit_code=1)
    (Path(result["run_dir"]) / "outputs.json").write_text(json.dumps(result, indent=2) + "\n")
    typer.echo(f"pipeline finished in {result['seconds']} s; outputs: {result['run_dir']}/outputs.json")
    for task in ("report", "compare"):
        if task in result["outputs"]:
            typer.echo(f"report: {Path(result['outputs'][task]['report_dir']) / 'report.html'}")


Backend = Annotated[str, typer.Option(envvar="MSM_BACKEND", help="kfp (KFP_HOST) or vertex (MSM_VERTEX_*).")]
Params = Annotated[list[str] | None, typer.Option("--param", help="Pipeline parameter NAME=VALUE (repeatable).")]


def _params(pairs: list[str] | None) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep:
            raise typer.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--param")
        out[name] = value
    return out


def _compiled(recipe: Path, spec: Path | None, pipeline: str, out: Path, backend: str, param: list[str] | None):
    """(the compiled package for the backend, its typed parameters)."""
    from pipelines.compile import compile_pipelines
    from pipelines.submit import typed_params

    if backend not in ("kfp", "vertex"):
        raise MsmError(f"unknown backend {backend!r}\n    fix: use --backend kfp or vertex (or MSM_BACKEND)")
    paths = compile_pipelines(recipe, spec or default_spec(recipe), out, pipeline)
    package = paths["vertex" if backend == "vertex" else "kubeflow"]
    return package, typed_params(package, _params(param))


@app.command("submit")
def submit_cmd(
    recipe: RecipeOpt,
    spec: SpecOpt = None,
    pipeline: PipelineOpt = "msm",
    backend: Backend = "kfp",
    experiment: Annotated[str, typer.Option(help="KFP experiment.")] = "msm",
    run_name: Annotated[str | None, typer.Option(help="Run name [default: <pipeline>-<spec id>].")] = None,
    param: Params = None,
    out: Annotated[Path, typer.Option(help="Where the compiled files go.")] = Path("build/pipelines"),
) -> None:
    """Compile, upload a pipeline version and start a run (what `make pipeline` calls)."""
    from msm.spec import load_source
    from pipelines.submit import submit_kfp, submit_vertex

    try:
        package, params = _compiled(recipe, spec, pipeline, out, backend, param)
        name = run_name or f"{package.name.split('.')[0]}-{load_source(spec or default_spec(recipe)).front.id}"
        if backend == "vertex":
            done = submit_vertex(package, display_name=name, params=params)
        else:
            done = submit_kfp(package, experiment=experiment, run_name=name, params=params)
    except MsmError as e:
        fail(e)
    typer.echo(f"submitted to {done.backend}: {done.id} {json.dumps(done.details)}")


@app.command("schedule")
def schedule_cmd(
    recipe: RecipeOpt,
    cron: Annotated[
        str,
        typer.Option(help="KFP: six fields, seconds first ('0 0 3 * * *'); Vertex: five, optionally 'TZ=UTC ' first."),
    ],
    spec: SpecOpt = None,
    pipeline: PipelineOpt = "reevaluate",
    backend: Backend = "kfp",
    experiment: Annotated[str, typer.Option(help="KFP experiment.")] = "msm-scheduled",
    name: Annotated[str, typer.Option(help="Schedule name.")] = "msm-scheduled",
    param: Params = None,
    out: Annotated[Path, typer.Option(help="Where the compiled files go.")] = Path("build/pipelines"),
) -> None:
    """Compile and create a recurring run (KFP) or a PipelineJobSchedule (Vertex AI) [default: reevaluate]."""
    from pipelines.submit import schedule_kfp, schedule_vertex

    try:
        package, params = _compiled(recipe, spec, pipeline, out, backend, param)
        if backend == "vertex":
            done = schedule_vertex(package, display_name=name, cron=cron, params=params)
        else:
            done = schedule_kfp(package, experiment=experiment, name=name, cron=cron, params=params)
    except MsmError as e:
        fail(e)
    typer.echo(f"scheduled on {done.backend}: {done.id} {json.dumps(done.details)}")


if __name__ == "__main__":
    app(prog_name="python -m pipelines")

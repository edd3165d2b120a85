"""How every command line (msm, its sub-commands, `python -m pipelines`) reports a failure: each
problem on its own line (file, place, fix), no traceback, and a non-zero exit."""

import typer

from msm.errors import EXIT_INVALID, InvalidInput, MsmError


def fail(error: MsmError, exit_code: int = EXIT_INVALID) -> None:
    if isinstance(error, InvalidInput):
        for p in error.problems:
            typer.echo(f"error: {p}", err=True)
    else:
        typer.echo(f"error: {error}", err=True)
    raise typer.Exit(exit_code)

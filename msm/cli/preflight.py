"""`msm preflight --recipe R`: check a recipe's endpoints, keys, models, contexts and budget before a run.

Exit codes: 0 every check passed; 2 one or more problems (each printed with its fix).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from msm.cli.errors import fail
from msm.errors import EXIT_INVALID, MsmError


def preflight_command(
    recipe: Annotated[Path, typer.Option("--recipe", help="Recipe YAML to check.")],
    cluster: Annotated[
        bool, typer.Option("--cluster/--local", help="Also check the GPU tasks' needs against `platform`.")
    ] = False,
) -> None:
    """Check in seconds what a run needs from outside: keys (by name), endpoints, models, context, budget."""
    from msm.preflight import preflight

    try:
        report = preflight(recipe, cluster=cluster)
    except MsmError as e:
        fail(e, EXIT_INVALID)
    typer.echo(json.dumps(report, indent=2))

"""`--spec` as users pass it: an ingest output directory, or a spec .md file ingested on the fly.

The stages read a spec only as an ingest output (msm.artefacts.spec). Passing `--spec specs/rules.md`
(or listing .md files under a recipe's `specs:` for `msm evaluate`) stays a convenience of the
drivers: each file is rendered with the recipe's identity, exactly as `msm ingest` would, into a
temporary directory that lives as long as the command. Temporary, not beside --out, because a
refused command must write nothing; what later stages need survives anyway: the stage's manifest
records the spec's id and hashes and embeds its lineage node, and a rerun renders the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

from msm.config import Identity
from msm.errors import InvalidInput, problem


@contextmanager
def spec_dirs(specs: list[Path], identity: Identity, flag: str = "--spec") -> Iterator[list[Path]]:
    """The ingest outputs `specs` name: directories as they are (the stage's read_spec checks them),
    .md files rendered first; all files are checked before any is rendered."""
    if missing := [p for p in specs if not p.exists()]:
        raise InvalidInput(
            [
                problem(
                    p,
                    "does not exist",
                    "pass a spec .md file (e.g. specs/rules.md) or an ingest output (`msm spec render --out`)",
                    field=flag,
                )
                for p in missing
            ]
        )
    files = [p for p in specs if p.is_file()]
    if not files:
        yield list(specs)
        return
    from msm.spec import ingest_specs

    with TemporaryDirectory(prefix="msm-spec-") as tmp:
        rendered = iter(ingest_specs(files, Path(tmp), identity.model_name, identity.provider_name))
        yield [next(rendered) if p.is_file() else p for p in specs]


@contextmanager
def spec_dir(spec: Path, identity: Identity) -> Iterator[Path]:
    """spec_dirs for the one `--spec` of a synthesis command."""
    with spec_dirs([spec], identity) as (ingested,):
        yield ingested

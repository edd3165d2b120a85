"""Publish synthesized data to a stable place: `<root>/<spec id>/<corpus digest>/{corpus,aft_data}`.

Pipeline artefacts live under run-specific paths; a published corpus lives where people and
DVC (`dvc add`, `dvc import`) can find it, addressed by content, so republishing the same corpus
is a no-op and two different corpora never overwrite each other.
"""

from __future__ import annotations

from pathlib import Path

from msm.errors import MsmError
from msm.lineage import upstream_nodes
from msm.manifest import read_manifest, write_manifest
from msm.outputs import copy_files, staged_output


def publish(outputs: dict[str, Path], spec_id: str, root: Path) -> Path:
    """Copy msm output directories (name → dir) under root; returns the published directory."""
    nodes = upstream_nodes(dict(outputs))
    missing = sorted(set(outputs) - set(nodes))
    if missing:
        raise MsmError(f"{', '.join(missing)}: not msm outputs (no manifest.json); nothing published")
    dest = root / spec_id / "-".join(n["digest"][:12] for n in nodes.values())
    if read_manifest(dest) is not None:
        return dest  # the same content is already there
    with staged_output(dest) as stage:
        for name, path in outputs.items():
            copy_files(path, stage / name)
        write_manifest(stage, stage="publish", inputs={"spec_id": spec_id}, config={}, lineage=nodes)
    return dest

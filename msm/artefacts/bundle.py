"""A bundle of evaluation runs: several evaluate tasks' results gathered into one artefact, so that
one report can read more runs than it has input slots (KFP v2 passes no list of artefacts from
separate tasks; msm.config.study.MAX_EVALUATIONS).

<bundle>/bundle.json     {"schema": ..., "runs": ["001", "002", ...]} in the order gathered
<bundle>/001/ ...        each run's directory, copied whole (itself a run or a bundle)
<bundle>/manifest.json   written last
"""

from __future__ import annotations

import json
from pathlib import Path

from msm.errors import InvalidInput, problem
from msm.manifest import write_manifest
from msm.outputs import copy_files, staged_output

BUNDLE_JSON = "bundle.json"
SCHEMA = "msm.evaluation-bundle/v1"


def write_bundle(run_dirs: list[Path], out: Path) -> Path:
    """Copy `run_dirs` (evaluation runs or bundles), in order, into one bundle at `out`."""
    if not run_dirs:
        raise InvalidInput([problem("runs", "no evaluation runs to gather", "pass one or more evaluation artefacts")])
    names = [f"{i:03d}" for i in range(1, len(run_dirs) + 1)]
    with staged_output(out) as stage:
        for name, src in zip(names, run_dirs, strict=True):
            copy_files(Path(src), stage / name)
        (stage / BUNDLE_JSON).write_text(json.dumps({"schema": SCHEMA, "runs": names}, indent=2) + "\n")
        write_manifest(stage, stage="gather", inputs={}, config={}, counts={"runs": len(names)})
    return out


def expand(dirs: list[Path]) -> list[Path]:
    """The evaluation run directories in `dirs`, each bundle replaced by its runs (recursively), in order."""
    out: list[Path] = []
    for d in map(Path, dirs):
        listing = d / BUNDLE_JSON
        if listing.is_file():
            out += expand([d / name for name in json.loads(listing.read_text(encoding="utf-8"))["runs"]])
        else:
            out.append(d)
    return out

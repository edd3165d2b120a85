"""Stage outputs appear whole or not at all.

A stage writes into a hidden staging directory beside the destination and renames it into
place only when everything succeeded, so a crash or a bad input never leaves a half-written
output that a later stage (or DVC, or a KFP cache) would take for a finished one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from msm.errors import MsmError
from msm.manifest import MANIFEST_NAME


def _replaceable(out_dir: Path) -> bool:
    """Only an empty directory or an earlier msm output may be replaced, never user files."""
    return not any(out_dir.iterdir()) or (out_dir / MANIFEST_NAME).is_file()


@contextmanager
def staged_output(out_dir: Path) -> Iterator[Path]:
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise MsmError(f"{out_dir}: output path exists and is not a directory; choose another --out")
    if out_dir.is_dir() and not _replaceable(out_dir):
        raise MsmError(
            f"{out_dir}: directory is not empty and holds no {MANIFEST_NAME}, so it is not an msm "
            "output; refusing to overwrite it. Choose an empty or new --out directory."
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = out_dir.parent / f".{out_dir.name}.staging-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    try:
        yield stage
        if out_dir.exists():
            trash = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(out_dir, trash)
            os.replace(stage, out_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(stage, out_dir)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)


def copy_files(src: Path, dst: Path) -> list[Path]:
    """Copy every file below src into dst as real files (symlinks, as in the Hub cache, resolved)."""
    files = sorted(p for p in src.rglob("*") if p.is_file())
    for path in files:
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return files

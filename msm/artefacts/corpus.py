"""A document corpus (`msm synthesize docs --out`), and the row files training reads.

  documents.{parquet,jsonl}   the kept documents ({"text": ..., ...} rows), shuffled: what midtraining reads
  removed.{parquet,jsonl}     what the quality filters dropped and why (never trained on)
  plan.json                   domains → subdomains → assertions → types → ideas
  manifest.json               stage "synthesize-docs"

Every synthesis dataset is written as `<name>.parquet` plus a `<name>.jsonl` twin (row_files).
"""

from __future__ import annotations

from pathlib import Path

from msm.artefacts import aft
from msm.errors import InvalidInput, problem
from msm.manifest import load_manifest

STAGE = "synthesize-docs"
DOCUMENTS = "documents"
REMOVED = "removed"
PLAN_JSON = "plan.json"


def row_files(out_dir: Path, name: str) -> tuple[Path, Path]:
    """(parquet, jsonl) paths of one dataset in a synthesis output."""
    return Path(out_dir) / f"{name}.parquet", Path(out_dir) / f"{name}.jsonl"


def training_files(path: Path) -> list[Path]:
    """The row files a training input names: a file as is; in a corpus, its documents only (never the
    removed rows); in any other directory its *.parquet files, or else its *.jsonl files."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InvalidInput([problem(path, "no such file or directory", "pass a corpus/data directory or file")])
    stage = (load_manifest(path) or {}).get("stage")
    if stage == STAGE:
        parquet, jsonl = row_files(path, DOCUMENTS)
        return [parquet if parquet.is_file() else jsonl]
    if stage == aft.STAGE:  # both chat variants side by side would train on every conversation twice
        raise InvalidInput(
            [
                problem(
                    path,
                    "is an AFT data output, which holds several datasets",
                    f"pass one of its files, e.g. {path / (aft.AFT_VARIANTS['plain'] + '.parquet')}",
                )
            ]
        )
    for pattern in ("*.parquet", "*.jsonl"):
        if files := sorted(path.rglob(pattern)):
            return files
    raise InvalidInput(
        [problem(path, "holds no *.parquet or *.jsonl files", "point at the output directory of `msm synthesize`")]
    )

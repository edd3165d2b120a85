"""An evaluation's output directory (`msm evaluate --out`): its file names and checked readers.

  run.json                       what this run is (every input that decides its results)
  samples/<suite>.jsonl          one line per finished sample
  samples/<suite>.judgments.jsonl    one line per judge verdict
  judge-cache.sqlite             every judge reply
  metrics.json                   rates per suite (what `msm report` and the regression check read)
  inspect/<suite>.eval           the samples as Inspect eval logs
  manifest.json                  written last: the run is finished once it exists

The metrics file is EVAL_METRICS_JSON, not METRICS_JSON: training writes its own metrics.jsonl.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from msm.errors import InvalidInput, problem
from msm.manifest import MANIFEST_NAME, load_manifest, read_json_object

RUN_JSON = "run.json"
EVAL_METRICS_JSON = "metrics.json"
EVAL_METRICS_SCHEMA = "msm.evaluation-metrics/v1"
SAMPLES_DIR = "samples"
JUDGE_CACHE = "judge-cache.sqlite"
INSPECT_DIR = "inspect"

# The fields of metrics.json that readers rely on, and their JSON types.
EVAL_METRICS_FIELDS: dict[str, type] = {"label": str, "suites": dict, "engine": str, "seed": int}


def damaged_fix(out_dir: Path) -> str:
    """The fix for a finished evaluation's file that does not read back as msm wrote it."""
    return f"evaluate again into a new --out (the files in {out_dir} were damaged or edited)"


def samples_path(out_dir: Path, suite: str, kind: str = "") -> Path:
    """A suite's sample log, or (kind "judgments") its judge verdicts."""
    return Path(out_dir) / SAMPLES_DIR / f"{suite}{'.' + kind if kind else ''}.jsonl"


def inspect_log_path(log_dir: Path, suite: str) -> Path:
    return Path(log_dir) / f"{suite}.eval"


def read_finished(
    out_dir: Path, fields: tuple[str, ...] = tuple(EVAL_METRICS_FIELDS)
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The manifest and metrics.json of a finished evaluation, with the metrics' `fields` (names in
    EVAL_METRICS_FIELDS) checked; InvalidInput when the run is unfinished, or either file is damaged."""
    out_dir = Path(out_dir)
    manifest = load_manifest(out_dir)
    if manifest is None or not (out_dir / EVAL_METRICS_JSON).is_file():
        raise InvalidInput(
            [
                problem(
                    out_dir,
                    f"is not a finished evaluation (no {MANIFEST_NAME}/{EVAL_METRICS_JSON})",
                    "finish it with `msm evaluate ... --out` (reruns resume)",
                )
            ]
        )
    path = out_dir / EVAL_METRICS_JSON
    fix = damaged_fix(out_dir)
    metrics = read_json_object(path, fix)
    problems = [
        problem(path, f"`{name}` is missing or not a JSON {EVAL_METRICS_FIELDS[name].__name__}", fix, field=name)
        for name in fields
        if not isinstance(metrics.get(name), EVAL_METRICS_FIELDS[name])
    ]
    if problems:
        raise InvalidInput(problems)
    return manifest, metrics


def suite_version(manifest: dict[str, Any], out_dir: Path) -> str:
    """The version of the suite items a finished evaluation ran on (its manifest's config.suite_version)."""
    version = manifest.get("config", {}).get("suite_version")
    if not isinstance(version, str):
        raise InvalidInput(
            [
                problem(
                    Path(out_dir) / MANIFEST_NAME,
                    "`config.suite_version` is missing or not a JSON str",
                    damaged_fix(out_dir),
                    field="config.suite_version",
                )
            ]
        )
    return version

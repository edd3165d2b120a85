"""Regression checks of released checkpoints: this evaluation against the last accepted scores.

Scores live in a directory (a PVC or a gcsfuse path on a cluster), one `<label>.json` per
release line. A checkpoint whose headline rate moved the wrong way by more than `max_drop`
(absolute) is a regression; its scores are NOT recorded, so the next scheduled run compares
against the last good scores again instead of silently accepting the drop. Scores from another
suite version are not comparable: the new ones become the baseline, and the check says so.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from msm.artefacts.evaluation import read_finished, suite_version

# Which way is better, by the name of a rate. Agentic misalignment is judged on the rates pooled
# over its 27 conditions; per-condition cells are too small to gate a release on.
HIGHER_IS_BETTER = {"aligned", "order_consistency", "full_credit"}
LOWER_IS_BETTER = {"check", "judge", "judge_and_check", "misuse"}
SKIPPED = ("per_item", "per_prompt", "margins", "conditions")
REGRESSION_JSON = "regression.json"  # the check_regressions component's summary


def flat_rates(suites: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{'suite/.../name': {'rate', 'n'}} for every rate with data in an evaluation's metrics."""
    found: dict[str, dict[str, float]] = {}

    def walk(node: Any, path: list[str]) -> None:
        if not isinstance(node, dict):
            return
        if node.get("rate") is not None and node.get("n"):
            found["/".join(path)] = {"rate": float(node["rate"]), "n": int(node["n"])}
        for key, value in node.items():
            if key not in SKIPPED:
                walk(value, [*path, key])

    walk(suites, [])
    return found


def _direction(metric: str) -> int:
    leaf = metric.rsplit("/", 1)[-1]
    return 1 if leaf in HIGHER_IS_BETTER else -1 if leaf in LOWER_IS_BETTER else 0


@dataclass
class Check:
    label: str
    status: str  # new | ok | regressed | suite-changed
    suite_version: str
    regressions: list[dict[str, Any]] = field(default_factory=list)
    compared: int = 0


def check_release(results: Path, scores_dir: Path, max_drop: float) -> Check:
    """Compare one finished evaluation with its label's last accepted scores; record them if accepted."""
    manifest, metrics = read_finished(results, fields=("label", "suites"))
    label, version = metrics["label"], suite_version(manifest, results)
    current = flat_rates(metrics["suites"])
    path = scores_dir / f"{label}.json"
    previous = json.loads(path.read_text()) if path.is_file() else None
    check = Check(label=label, status="new", suite_version=version)
    if previous is not None and previous["suite_version"] != version:
        check.status = "suite-changed"
    elif previous is not None:
        check.status = "ok"
        for metric, now in sorted(current.items()):
            before, sign = previous["rates"].get(metric), _direction(metric)
            if before is None or not sign:
                continue
            check.compared += 1
            drop = sign * (before["rate"] - now["rate"])
            if drop > max_drop:
                check.regressions.append(
                    {"metric": metric, "previous": before["rate"], "current": now["rate"], "drop": round(drop, 4)}
                )
        if check.regressions:
            check.status = "regressed"
    if check.status != "regressed":
        scores_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "label": label,
            "suite_version": version,
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "evaluation": str(results),
            "rates": current,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2) + "\n")
        tmp.replace(path)  # a reader never sees half a record
    return check


def write_summary(checks: list[Check], out_dir: Path) -> dict[str, Any]:
    """REGRESSION_JSON in `out_dir`: which labels regressed, and every check with its metrics."""
    document = {
        "regressed": [c.label for c in checks if c.status == "regressed"],
        "checks": [asdict(c) for c in checks],
    }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / REGRESSION_JSON).write_text(json.dumps(document, indent=2) + "\n")
    return document

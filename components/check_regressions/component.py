"""Check regressions: released checkpoints' scores against the last accepted ones."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def check_regressions(
    results: Input[list[Dataset]], scores_dir: str, max_drop: float, summary: Output[Dataset], metrics: Output[Metrics]
) -> int:
    """Compare each evaluation with its label's last accepted scores (msm.evaluation.regression).

    Returns the number of regressed checkpoints; the pipeline fails the run when it is not zero,
    after this task has recorded its Metrics (a failing task would record none).

    Args:
        results: The collected evaluations, one per checkpoint (label = the release line).
        scores_dir: Directory of accepted scores, one <label>.json each (a PVC or /gcs/ path).
        max_drop: Largest tolerated move of a headline rate in the wrong direction (absolute).
        summary: regression.json: every check with the metrics that regressed.
        metrics: `regressed` (count) and, per label, `<label>/regressions`, shown by the Kubeflow UI.

    Returns:
        How many checkpoints regressed (fail_on_regression takes it).
    """
    from pathlib import Path

    from msm.evaluation.regression import check_release, write_summary

    checks = [check_release(Path(r.path), Path(scores_dir), max_drop) for r in results]
    document = write_summary(checks, Path(summary.path))
    metrics.log_metric("regressed", len(document["regressed"]))
    for check in checks:
        metrics.log_metric(f"{check.label}/regressions", len(check.regressions))
    return len(document["regressed"])


@dsl.component(base_image=CPU_IMAGE)
def fail_on_regression(regressed: int):
    """Fail the run (a non-zero outcome for schedules and alerts) when checkpoints regressed.

    Args:
        regressed: How many checkpoints regressed (from check_regressions).
    """
    raise SystemExit(f"{regressed} released checkpoint(s) regressed; see the check-regressions summary")

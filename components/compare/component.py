"""Compare: one report over a fan-out's evaluations (spec sweep, released checkpoints)."""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def compare(
    runs: Input[list[Dataset]],
    report_dir: Output[Dataset],
    html: Output[HTML],
    markdown: Output[Markdown],
    reference: Input[Dataset] = None,
):
    """Report over evaluations collected from a ParallelFor (msm.evaluation.report.write_report).

    Args:
        runs: The collected evaluation directories, one per loop iteration.
        report_dir: report.md, report.html, plots, metrics.json and manifest.
        html: The HTML page, rendered by the Kubeflow UI.
        markdown: The Markdown report, rendered by the Kubeflow UI.
        reference: An evaluation to compare every run against (first in the report); absent = the first run.
    """
    from pathlib import Path

    from msm.artefacts.report import copy_for_ui
    from msm.evaluation.report import write_report

    dirs = ([Path(reference.path)] if reference is not None else []) + [Path(r.path) for r in runs]
    write_report(dirs, Path(report_dir.path))
    copy_for_ui(Path(report_dir.path), Path(html.path), Path(markdown.path))

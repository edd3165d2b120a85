"""Report: the paper's conditions side by side — Markdown, a self-contained HTML page with plots, metrics."""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def report(
    base: Input[Dataset],
    report_dir: Output[Dataset],
    html: Output[HTML],
    markdown: Output[Markdown],
    aft_only: Input[Dataset] = None,
    aft_reasoning: Input[Dataset] = None,
    msm_only: Input[Dataset] = None,
    msm_aft: Input[Dataset] = None,
):
    """Compare the paper's conditions (msm.evaluation.report.write_report); absent arms are left out.

    Args:
        base: Evaluation of the base model, the reference of every difference.
        aft_only: Evaluation of AFT without reasoning on the base model.
        aft_reasoning: Evaluation of AFT with reasoning (the deliberative-alignment baseline).
        msm_only: Evaluation of the midtrained model.
        msm_aft: Evaluation of AFT continuing the MSM adapter.
        report_dir: report.md, report.html, plots, metrics.json and manifest.
        html: The HTML page, rendered by the Kubeflow UI.
        markdown: The Markdown report, rendered by the Kubeflow UI.
    """
    import shutil
    from pathlib import Path

    from msm.evaluation.report import write_report

    runs = [Path(a.path) for a in (base, aft_only, aft_reasoning, msm_only, msm_aft) if a is not None]
    write_report(runs, Path(report_dir.path))
    shutil.copy(Path(report_dir.path) / "report.html", html.path)
    shutil.copy(Path(report_dir.path) / "report.md", markdown.path)

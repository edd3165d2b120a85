"""Report: a study's conditions side by side, its question answered first — Markdown, a
self-contained HTML page with plots, metrics."""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def report(
    study: str,
    report_dir: Output[Dataset],
    html: Output[HTML],
    markdown: Output[Markdown],
    run01: Input[Dataset] = None,
    run02: Input[Dataset] = None,
    run03: Input[Dataset] = None,
    run04: Input[Dataset] = None,
    run05: Input[Dataset] = None,
    run06: Input[Dataset] = None,
    run07: Input[Dataset] = None,
    run08: Input[Dataset] = None,
    run09: Input[Dataset] = None,
    run10: Input[Dataset] = None,
    run11: Input[Dataset] = None,
    run12: Input[Dataset] = None,
    run13: Input[Dataset] = None,
    run14: Input[Dataset] = None,
    run15: Input[Dataset] = None,
    run16: Input[Dataset] = None,
    run17: Input[Dataset] = None,
    run18: Input[Dataset] = None,
    run19: Input[Dataset] = None,
    run20: Input[Dataset] = None,
    run21: Input[Dataset] = None,
    run22: Input[Dataset] = None,
    run23: Input[Dataset] = None,
    run24: Input[Dataset] = None,
):
    """Answer a study's question from its evaluations (msm.evaluation.report.write_report).

    KFP v2 passes no list of artefacts from separate tasks (only a ParallelFor's, collected), so the
    evaluations arrive in 24 optional slots; runs with one label are that condition's seeds.

    Args:
        study: The study whose question and contrasts lead the report (msm.evaluation.studies.STUDIES).
        report_dir: report.md, report.html, plots, metrics.json and manifest.
        html: The HTML page, rendered by the Kubeflow UI.
        markdown: The Markdown report, rendered by the Kubeflow UI.
        run01: An evaluation (any arm, any seed; its label says which).
        run02: Another evaluation, or none.
        run03: Another evaluation, or none.
        run04: Another evaluation, or none.
        run05: Another evaluation, or none.
        run06: Another evaluation, or none.
        run07: Another evaluation, or none.
        run08: Another evaluation, or none.
        run09: Another evaluation, or none.
        run10: Another evaluation, or none.
        run11: Another evaluation, or none.
        run12: Another evaluation, or none.
        run13: Another evaluation, or none.
        run14: Another evaluation, or none.
        run15: Another evaluation, or none.
        run16: Another evaluation, or none.
        run17: Another evaluation, or none.
        run18: Another evaluation, or none.
        run19: Another evaluation, or none.
        run20: Another evaluation, or none.
        run21: Another evaluation, or none.
        run22: Another evaluation, or none.
        run23: Another evaluation, or none.
        run24: Another evaluation, or none.
    """
    from pathlib import Path

    from msm.artefacts.report import copy_for_ui
    from msm.evaluation.report import write_report

    slots = (
        run01,
        run02,
        run03,
        run04,
        run05,
        run06,
        run07,
        run08,
        run09,
        run10,
        run11,
        run12,
        run13,
        run14,
        run15,
        run16,
        run17,
        run18,
        run19,
        run20,
        run21,
        run22,
        run23,
        run24,
    )
    write_report([Path(a.path) for a in slots if a is not None], Path(report_dir.path), study=study)
    copy_for_ui(Path(report_dir.path), Path(html.path), Path(markdown.path))

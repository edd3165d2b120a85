"""A report's output directory (`msm report --out`, the report and compare components): its file names.

report.md        the study's answer, then the tables (Markdown)
report.html      the same, self-contained: plots embedded
metrics.json     runs, paired differences, the study's answers, lineage
<plot>.png       the figures
manifest.json    written last
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
REPORT_METRICS_JSON = "metrics.json"


def copy_for_ui(report_dir: Path, html: Path, markdown: Path) -> None:
    """The page and the Markdown as the separate artefacts the Kubeflow UI renders."""
    shutil.copy(Path(report_dir) / REPORT_HTML, html)
    shutil.copy(Path(report_dir) / REPORT_MD, markdown)

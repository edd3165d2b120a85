"""The comparison report over finished evaluation runs: report.md, report.html (self-contained:
plots embedded as base64 PNG), metrics.json (every run's metrics plus bootstrap differences) and
the PNGs themselves.

    msm report --runs build/eval/baseline build/eval/msm-aft --out build/report

The first run is the reference: differences are "run minus first run" with percentile bootstrap
CIs over items (forced choice) or samples (agentic misalignment).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from msm.artefacts.evaluation import damaged_fix, read_finished, samples_path
from msm.errors import InvalidInput, problem
from msm.evaluation.formatting import num
from msm.evaluation.suites import REGISTRY
from msm.evaluation.suites.base import ReportSection
from msm.lineage import flatten
from msm.manifest import read_manifest
from msm.outputs import staged_output
from msm.rows import numbered_rows, row_problem

TRANSCRIPTS_PER_RUN = 2


def sections() -> list[tuple[ReportSection, list[str]]]:
    """Each report section with its suites, in registry order (suites of one kind share a section)."""
    found: dict[ReportSection, list[str]] = {}
    for name, suite in REGISTRY.items():
        found.setdefault(suite.report, []).append(name)
    return list(found.items())


def _load_run(d: Path) -> dict[str, Any]:
    _, metrics = read_finished(d)
    return {"dir": d, **metrics, "transcripts": _transcripts(d, damaged_fix(d))}


def load_runs(dirs: list[Path]) -> list[dict[str, Any]]:
    """Every run's metrics and sample transcripts, read and checked before the report writes anything."""
    runs, problems = [], []
    for d in dirs:
        try:
            runs.append(_load_run(d))
        except InvalidInput as e:
            problems += e.problems
    if problems:
        raise InvalidInput(problems)
    labels = [r["label"] for r in runs]
    for r in runs:  # two runs with one label would be indistinguishable in every table
        if labels.count(r["label"]) > 1:
            r["label"] = f"{r['label']} ({r['dir'].name})"
    return runs


def _differences(runs: list[dict], resamples: int = 2000) -> list[dict[str, Any]]:
    base = runs[0]
    return [
        d
        for run in runs[1:]
        for section, suites in sections()
        for d in section.differences(suites, base, run, resamples)
    ]


def _plots(runs: list[dict], out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")  # before any section imports pyplot: no display needed
    plots: dict[str, Path] = {}
    for section, suites in sections():
        plots.update(section.plots(suites, runs, out))
    return plots


def _transcripts(run_dir: Path, fix: str) -> list[tuple[str, str, str]]:
    found = []
    # Open-ended replies first: they show more of a model than a letter does.
    for suite in sorted(REGISTRY, key=lambda name: not REGISTRY[name].open_ended):
        path = samples_path(run_dir, suite)
        if not path.is_file():
            continue
        for n, r in numbered_rows(path)[:TRANSCRIPTS_PER_RUN]:
            messages, response = r.get("messages"), r.get("response")
            if not (isinstance(messages, list) and messages and isinstance(messages[-1], dict)) or not isinstance(
                response, str
            ):
                raise InvalidInput([row_problem(path, n, "a sample needs `messages` and a string `response`", fix)])
            found.append((suite, str(messages[-1].get("content", "")), response))
        if len(found) >= TRANSCRIPTS_PER_RUN:
            break
    return found[:TRANSCRIPTS_PER_RUN]


LINEAGE_ORDER = ["spec", "synthesize-docs", "synthesize-aft", "midtrain", "align"]


def lineage(run: dict) -> dict[str, str]:
    """{stage: short digest} of what a run's scores came from (msm.lineage, from its manifest)."""
    return flatten((read_manifest(run["dir"]) or {}).get("lineage", {}))


def _lineage_lines(runs: list[dict]) -> list[str]:
    found = {r["label"]: lineage(r) for r in runs}
    stages = sorted(
        {s for f in found.values() for s in f},
        key=lambda s: (s not in LINEAGE_ORDER, LINEAGE_ORDER.index(s) if s in LINEAGE_ORDER else 0, s),
    )
    if not stages:
        return []
    return [
        "",
        "## Lineage",
        "",
        "What each run's scores came from: the spec's source sha256, then each stage's output digest "
        "(sha256 over its files' hashes), first 12 hex digits; from the manifests.",
        "",
        "| run | " + " | ".join(stages) + " |",
        "|---|" + "---|" * len(stages),
        *(f"| {label} | " + " | ".join(f.get(s, "–") for s in stages) + " |" for label, f in found.items()),
    ]


def _markdown(runs: list[dict], diffs: list[dict], plots: dict[str, Path]) -> str:
    lines = ["# msm evaluation report", "", "Runs (first = reference for differences):", ""]
    for r in runs:
        judge = r.get("judge") or {}
        lines.append(
            f"- **{r['label']}** — `{r['dir']}` (engine {r['engine']}, seed {r['seed']}, judge "
            f"{judge.get('backend', '–')}:{judge.get('model', '–')})"
        )
    lines += _lineage_lines(runs)
    for section, suites in sections():
        lines += section.markdown(suites, runs)
    if diffs:
        lines += [
            "",
            "## Differences from the reference run (bootstrap 95% CI)",
            "",
            "| run | vs | suite | family | metric | difference | CI |",
            "|---|---|---|---|---|---|---|",
        ]
        for d in diffs:
            lines.append(
                f"| {d['run']} | {d['vs']} | {d['suite']} | {d['family']} | {d['metric']} "
                f"| {num(d['diff'])} | [{num(d['ci_low'])}, {num(d['ci_high'])}] |"
            )
    if plots:
        lines += ["", "## Plots", ""] + [f"![{name}]({p.name})" for name, p in plots.items()]
    lines += ["", "## Sample transcripts", ""]
    for r in runs:
        for suite, prompt_text, response in r["transcripts"]:
            lines += [
                f"**{r['label']} — {suite}**",
                "",
                "```text",
                prompt_text[-600:],
                "--- reply ---",
                response[:600],
                "```",
                "",
            ]
    return "\n".join(lines) + "\n"


def _html(markdown: str, plots: dict[str, Path]) -> str:
    """Minimal Markdown → HTML for what _markdown emits (headings, lists, tables, code, images)."""
    body, in_table, in_code = [], False, False
    for line in markdown.splitlines():
        if line.startswith("```"):
            body.append("</pre>" if in_code else "<pre>")
            in_code = not in_code
            continue
        if in_code:
            body.append(html.escape(line))
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            tag = "th" if not in_table else "td"
            body.append(
                ("<table>" if not in_table else "")
                + "<tr>"
                + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells)
                + "</tr>"
            )
            in_table = True
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("!["):
            name = line[2 : line.index("]")]
            data = base64.b64encode(plots[name].read_bytes()).decode()
            body.append(f'<p><img alt="{html.escape(name)}" src="data:image/png;base64,{data}"></p>')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("- "):
            body.append(f"<p>• {html.escape(line[2:]).replace('**', '')}</p>")
        elif line.strip():
            body.append(f"<p>{html.escape(line).replace('**', '')}</p>")
    if in_table:
        body.append("</table>")
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:13px;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 6px}th{background:#f0f0f0}"
        "pre{background:#f6f6f6;padding:8px;white-space:pre-wrap;font-size:12px}img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>msm evaluation report</title>"
        f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def write_report(run_dirs: list[Path], out: Path) -> Path:
    if not run_dirs:
        raise InvalidInput([problem("--runs", "no runs given", "pass one or more evaluation directories")])
    runs = load_runs([Path(d) for d in run_dirs])
    diffs = _differences(runs)
    with staged_output(out) as stage:
        plots = _plots(runs, stage)
        markdown = _markdown(runs, diffs, plots)
        (stage / "report.md").write_text(markdown, encoding="utf-8")
        (stage / "report.html").write_text(_html(markdown, plots), encoding="utf-8")
        summary = {
            "schema": "msm.evaluation-report/v1",
            "runs": [{k: (str(v) if k == "dir" else v) for k, v in r.items() if k != "transcripts"} for r in runs],
            "differences": diffs,
            "lineage": {r["label"]: lineage(r) for r in runs},
        }
        (stage / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
        from msm.manifest import write_manifest

        write_manifest(
            stage,
            stage="report",
            inputs={"runs": [str(r["dir"]) for r in runs]},
            config={},
            counts={"runs": len(runs), "differences": len(diffs)},
        )
    return out / "report.html"

"""The report over finished evaluation runs: report.md, report.html (self-contained: plots embedded
as base64 PNG), metrics.json (every run's metrics, the study's answer, every paired difference) and
the PNGs themselves.

    msm report --study msm --runs build/eval/baseline build/eval/msm-aft --out build/report

With a study (msm.evaluation.studies), the report opens with its question and the contrasts that
answer it: each a paired difference over shared items with its 95% CI, p-value and n, in a sentence
generated from the numbers. Runs with one label are one condition's seeds. Every other condition is
then compared with the first, paired, on every per-item measure. Run directories are named relative
to the runs' common directory, never by their path on the machine that made the report.
"""

from __future__ import annotations

import base64
import html
import json
import os
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from msm.artefacts.bundle import expand
from msm.artefacts.evaluation import damaged_fix, read_finished, samples_path
from msm.artefacts.report import REPORT_HTML, REPORT_MD, REPORT_METRICS_JSON
from msm.errors import InvalidInput, problem
from msm.evaluation.formatting import num
from msm.evaluation.studies import (
    LEADING,
    STUDIES,
    Contrast,
    Study,
    answer,
    conditions,
    describe,
    differs,
    grid_cell,
    measures,
    size_of,
)
from msm.evaluation.suites import REGISTRY
from msm.evaluation.suites.base import ReportSection
from msm.hashing import sha256_text
from msm.lineage import flatten, volumes
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
    return {"dir": d, **metrics, "condition": metrics["label"], "transcripts": _transcripts(d, damaged_fix(d))}


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
    # Runs of one label are one condition's seeds: the study groups them by `condition`; tables
    # name each run, so repeated labels get their number.
    for condition, seeds in conditions(runs).items():
        if len(seeds) > 1:
            for i, r in enumerate(seeds, 1):
                r["label"] = f"{condition} #{i}"
    root = Path(os.path.commonpath([r["dir"].resolve() for r in runs]))
    for r in runs:
        r["path"] = r["dir"].resolve().relative_to(root.parent if len(runs) == 1 else root).as_posix() or "."
    return runs


def _differences(runs: list[dict], resamples: int = 2000) -> list[dict[str, Any]]:
    """Every condition minus the reference, paired, on every per-item measure both have. The
    reference is the instruction-tuning-only baseline when there is one (what the paper compares
    with; the untrained base model cannot chat), else the first condition."""
    by_condition = conditions(runs)
    reference = "baseline" if "baseline" in by_condition else next(iter(by_condition))
    others = [c for c in by_condition if c != reference]
    everything = Study("all", "", tuple(Contrast(c, reference) for c in others), measures=("*",))
    return answer(everything, runs, resamples=resamples)


def _plots(runs: list[dict], answers: list[dict], out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")  # before any section imports pyplot: no display needed
    plots: dict[str, Path] = {}
    if answers and (contrasts := _contrast_plot(answers, out / "study_contrasts.png")):
        plots["study contrasts"] = contrasts
    scaling = _scaling_plot(runs, out / "aft_scaling.png")
    if scaling:
        plots["AFT data scaling"] = scaling
    if grid := _grid_plot(runs, out / "spec_grid.png"):
        plots["spec grid: MSM spec × AFT spec"] = grid
    for section, suites in sections():
        plots.update(section.plots(suites, runs, out))
    return plots


def _contrast_plot(answers: list[dict], path: Path) -> Path | None:
    """The headline contrasts as differences with their paired 95% CIs: one panel per measure (its
    own scale and unit), one row per contrast. Every other contrast is in the table."""
    import matplotlib.pyplot as plt

    rows = [a for a in answers if a["diff"] is not None and a["headline"]]
    by_measure: dict[str, list[dict]] = {}
    for a in rows:
        by_measure.setdefault(a["measure"], []).append(a)
    if not by_measure:
        return None
    heights = [len(v) + 1.2 for v in by_measure.values()]
    fig, axes = plt.subplots(
        len(by_measure),
        1,
        figsize=(10, 0.4 * sum(heights) + 0.6),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, (measure, found) in zip(axes[:, 0], by_measure.items(), strict=True):
        for i, a in enumerate(found):
            color = "tab:blue" if differs(a) else "tab:grey"  # as its sentence says
            err = [[a["diff"] - a["ci_low"]], [a["ci_high"] - a["diff"]]]
            ax.errorbar(a["diff"], i, xerr=err, fmt="o", capsize=3, color=color)
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.set_yticks(range(len(found)), [f"{a['treatment']} − {a['control']}" for a in found])
        ax.set_ylim(len(found) - 0.5, -0.5)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_title(describe(measure), fontsize=9)
    axes[-1, 0].set_xlabel("difference, treatment − control (paired 95% CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _scaling_plot(runs: list[dict], path: Path) -> Path | None:
    """Each sized arm's leading measure against its AFT rows (the aft-scaling study), mean over seeds."""
    import matplotlib.pyplot as plt
    import numpy as np

    sized = {r["condition"]: s for r in runs if (s := size_of(r["condition"])) is not None}
    if not sized:
        return None
    by_condition = conditions(runs)
    common = set.intersection(*(set(measures(r)) for r in runs if r["condition"] in sized))
    measure = next((m for p in LEADING for m in sorted(common) if fnmatchcase(m, p)), None)
    if measure is None:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for arm in dict.fromkeys(a for a, _ in sized.values()):
        points = sorted((n, c) for c, (a, n) in sized.items() if a == arm)
        ys = [np.mean([np.mean(list(measures(r)[measure].values())) for r in by_condition[c]]) for _, c in points]
        ax.plot([n for n, _ in points], ys, marker="o", label=arm)
    ax.set_xscale("log")
    ax.set_xlabel("AFT rows")
    ax.set_ylabel(describe(measure))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# The measure a spec grid shows: the paper's cross-pair figure is the agentic-misalignment rate.
GRID_MEASURES = ("am/pooled/judge_and_check/per_item", "am/pooled/check/per_item", *LEADING)


def _grid_plot(runs: list[dict], path: Path) -> Path | None:
    """The spec sweep's grid: for each spec Y whose AFT data an arm aligned on (columns) and each
    spec X it was midtrained on first (rows; "no MSM" for AFT alone), the grid measure, mean over
    items and seeds; one panel without reasoning, one with."""
    import matplotlib.pyplot as plt
    import numpy as np

    cells = {r["condition"]: c for r in runs if (c := grid_cell(r["condition"])) is not None}
    if not any(x for x, _, _ in cells.values()):
        return None
    common = set.intersection(*(set(measures(r)) for r in runs if r["condition"] in cells))
    measure = next((m for p in GRID_MEASURES for m in sorted(common) if fnmatchcase(m, p)), None)
    if measure is None:
        return None
    by_condition = conditions(runs)
    rows = [None, *dict.fromkeys(x for x, _, _ in cells.values() if x)]
    columns = list(dict.fromkeys(y for _, y, _ in cells.values()))
    panels = sorted({reasoning for _, _, reasoning in cells.values()})
    values = {p: np.full((len(rows), len(columns)), np.nan) for p in panels}
    for condition, (x, y, reasoning) in cells.items():
        scores = [np.mean(list(measures(r)[measure].values())) for r in by_condition[condition]]
        values[reasoning][rows.index(x), columns.index(y)] = np.mean(scores)
    low = min(np.nanmin(v) for v in values.values())
    high = max(np.nanmax(v) for v in values.values())
    fig, axes = plt.subplots(
        1, len(panels), figsize=(1.3 * len(columns) * len(panels) + 3, 0.55 * len(rows) + 1.8), squeeze=False
    )
    for ax, reasoning in zip(axes[0], panels, strict=True):
        image = ax.imshow(values[reasoning], cmap="viridis", vmin=low, vmax=high if high > low else low + 1e-9)
        for (i, j), v in np.ndenumerate(values[reasoning]):
            if not np.isnan(v):  # dark text on the light end of viridis
                light = high > low and (v - low) / (high - low) > 0.6
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=8, color="black" if light else "white")
        ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)), [f"MSM({x})" if x else "no MSM" for x in rows], fontsize=8)
        ax.set_xlabel("AFT data of spec")
        ax.set_ylabel("midtrained on")
        ax.set_title("AFT with reasoning" if reasoning else "AFT without reasoning", fontsize=9)
    fig.colorbar(image, ax=list(axes[0]), shrink=0.8)
    fig.suptitle(describe(measure), fontsize=9)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _transcripts(run_dir: Path, fix: str) -> list[tuple[str, str, str]]:
    found = []
    # Open-ended replies first: they show more of a model than a letter does.
    for suite in sorted((s for s in REGISTRY if REGISTRY[s].generates), key=lambda s: not REGISTRY[s].open_ended):
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


def _data_lines(runs: list[dict]) -> list[str]:
    """What each run was trained on, in documents, chats, tokens and dollars (from the lineage)."""
    found = {r["label"]: volumes((read_manifest(r["dir"]) or {}).get("lineage", {})) for r in runs}
    if not any(found.values()):
        return []

    def cell(v: dict | None, unit: str) -> str:
        if not v:
            return "–"
        n = v.get(unit)
        tokens = f", {v['tokens']:,} tokens" if isinstance(v.get("tokens"), int) else ""
        usd = f", ${v['cost_usd']:,.2f}" if isinstance(v.get("cost_usd"), int | float) else ""
        bare = f" ({v['preference_chats']:,} bare-preference)" if v.get("preference_chats") else ""
        return f"{n:,} {unit}{bare}{tokens}{usd}" if isinstance(n, int) else "–"

    tokenizers = sorted({str(v["tokenizer"]) for f in found.values() for v in f.values() if v.get("tokenizer")})
    return [
        "",
        "## Training data",
        "",
        "The corpus a run was midtrained on and the AFT data it was aligned with, as their manifests count "
        f"them (tokens of {', '.join(tokenizers) or 'no tokenizer'}; dollars at the generator's prices).",
        "",
        "| run | MSM corpus | AFT data |",
        "|---|---|---|",
        *(
            f"| {label} | {cell(f.get('synthesize-docs'), 'documents')} | {cell(f.get('synthesize-aft'), 'chats')} |"
            for label, f in found.items()
        ),
    ]


def _answer_lines(study: Study, answers: list[dict]) -> list[str]:
    lines = ["", f"## {study.question}", ""]
    if not answers:
        wanted = ", ".join(sorted({x for c in study.contrasts for x in (c.treatment, c.control)}))
        return [
            *lines,
            f"None of the study's contrasts could be computed: its conditions ({wanted}) are not all "
            "among the runs, or they share no scored items.",
        ]
    lines += [f"- {a['sentence']}" for a in answers if a["headline"]]
    lines += [
        "",
        "Every contrast of the study, the ones above first:",
        "",
        "| treatment | control | measure | difference | paired 95% CI | p | n |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in sorted(answers, key=lambda a: not a["headline"]):
        lines.append(
            f"| {a['treatment']} | {a['control']} | {describe(a['measure'])} | {num(a['diff'])} "
            f"| [{num(a['ci_low'])}, {num(a['ci_high'])}] | {num(a['p_value'], '{:.3g}')} | {a['n']} |"
        )
    return lines


def _markdown(
    runs: list[dict], study: Study | None, answers: list[dict], diffs: list[dict], plots: dict[str, Path]
) -> str:
    lines = ["# msm evaluation report"]
    if study is not None:
        lines += _answer_lines(study, answers)
    lines += [
        "",
        "## Runs",
        "",
        "Paths relative to the runs' common directory.",
        "",
    ]
    for r in runs:
        judge = r.get("judge") or {}
        lines.append(
            f"- **{r['label']}** — `{r['path']}` (engine {r['engine']}, seed {r['seed']}, judge "
            f"{judge.get('backend', '–')}:{judge.get('model', '–')})"
        )
    lines += _data_lines(runs)
    lines += _lineage_lines(runs)
    for section, suites in sections():
        lines += section.markdown(suites, runs)
    if diffs:
        lines += [
            "",
            f"## Every condition minus {diffs[0]['control']} (paired over shared items, 95% CI)",
            "",
            "| condition | measure | difference | CI | p | n |",
            "|---|---|---|---|---|---|",
        ]
        for d in diffs:
            lines.append(
                f"| {d['treatment']} | {describe(d['measure'])} | {num(d['diff'])} "
                f"| [{num(d['ci_low'])}, {num(d['ci_high'])}] | {num(d['p_value'], '{:.3g}')} | {d['n']} |"
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


def write_report(run_dirs: list[Path], out: Path, study: str | None = None) -> Path:
    """The report over `run_dirs`; with `study` (a name in STUDIES), its question answered first."""
    if not run_dirs:
        raise InvalidInput([problem("--runs", "no runs given", "pass one or more evaluation directories")])
    if study and study not in STUDIES:
        raise InvalidInput([problem("--study", f"unknown study {study!r}", f"use one of {', '.join(STUDIES)}")])
    chosen = STUDIES[study] if study else None
    runs = load_runs(expand([Path(d) for d in run_dirs]))  # a gathered bundle's runs, each as a run
    answers = answer(chosen, runs) if chosen else []
    diffs = _differences(runs)
    with staged_output(out) as stage:
        plots = _plots(runs, answers, stage)
        markdown = _markdown(runs, chosen, answers, diffs, plots)
        (stage / REPORT_MD).write_text(markdown, encoding="utf-8")
        (stage / REPORT_HTML).write_text(_html(markdown, plots), encoding="utf-8")
        summary = {
            "schema": "msm.evaluation-report/v2",
            "study": {"name": chosen.name, "question": chosen.question, "answers": answers} if chosen else None,
            "runs": [{k: v for k, v in r.items() if k not in ("dir", "transcripts")} for r in runs],
            "differences": diffs,
            "lineage": {r["label"]: lineage(r) for r in runs},
        }
        (stage / REPORT_METRICS_JSON).write_text(json.dumps(summary, indent=2) + "\n")
        from msm.manifest import write_manifest

        write_manifest(
            stage,
            stage="report",
            inputs={"runs": {r["path"]: sha256_text(json.dumps(r["suites"], sort_keys=True)) for r in runs}},
            config={"study": study or None},
            counts={"runs": len(runs), "differences": len(diffs)},
        )
    return out / REPORT_HTML

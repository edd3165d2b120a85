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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from msm.errors import InvalidInput, problem
from msm.evaluation.run import METRICS_FILE, SAMPLES_DIR
from msm.evaluation.stats import bootstrap_diff
from msm.lineage import flatten
from msm.manifest import load_manifest, read_json_object, read_manifest
from msm.outputs import staged_output
from msm.rows import numbered_rows, row_problem

TRANSCRIPTS_PER_RUN = 2


def _pct(r: dict[str, Any] | None) -> str:
    if not r or r.get("rate") is None:
        return "–"
    return f"{100 * r['rate']:.1f}% [{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}] (n={r['n']})"


def _num(x: float | None, fmt: str = "{:+.3f}") -> str:
    return "–" if x is None else fmt.format(x)


# What the report reads from each run's metrics.json (written by msm.evaluation.run).
METRICS_FIELDS: dict[str, type] = {"label": str, "suites": dict, "engine": str, "seed": int}


def _load_run(d: Path) -> dict[str, Any]:
    if load_manifest(d) is None or not (d / METRICS_FILE).is_file():
        raise InvalidInput(
            [
                problem(
                    d,
                    "is not a finished evaluation (no manifest.json/metrics.json)",
                    "finish it with `msm evaluate ... --out` (reruns resume)",
                )
            ]
        )
    fix = f"evaluate again into a new --out (the files in {d} were damaged or edited)"
    metrics = read_json_object(d / METRICS_FILE, fix)
    problems = [
        problem(d / METRICS_FILE, f"`{name}` is missing or not a JSON {kind.__name__}", fix, field=name)
        for name, kind in METRICS_FIELDS.items()
        if not isinstance(metrics.get(name), kind)
    ]
    if problems:
        raise InvalidInput(problems)
    return {"dir": d, **metrics, "transcripts": _transcripts(d, fix)}


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


def _choice_rows(runs: list[dict]) -> list[tuple[str, str, dict, dict]]:
    rows = []
    for suite in ("value-ab", "cheese"):
        for run in runs:
            for family, m in run["suites"].get(suite, {}).get("families", {}).items():
                rows.append((suite, family, run, m))
    return rows


def _differences(runs: list[dict], resamples: int = 2000) -> list[dict[str, Any]]:
    base, out = runs[0], []
    for run in runs[1:]:
        for suite in ("value-ab", "cheese"):
            for family, m in run["suites"].get(suite, {}).get("families", {}).items():
                ref = base["suites"].get(suite, {}).get("families", {}).get(family)
                if ref is None:
                    continue
                for scorer, field in (("loglik", "per_item"), ("strict", "per_prompt")):
                    if scorer in m and scorer in ref:
                        d = bootstrap_diff(m[scorer][field], ref[scorer][field], resamples=resamples)
                        out.append(
                            {
                                "run": run["label"],
                                "vs": base["label"],
                                "suite": suite,
                                "family": family,
                                "metric": f"{scorer} aligned",
                                **d,
                            }
                        )
        if "am" in run["suites"] and "am" in base["suites"]:
            for metric, values in run["suites"]["am"]["per_sample"].items():
                ref_values = base["suites"]["am"]["per_sample"].get(metric, [])
                if values and ref_values:
                    d = bootstrap_diff(values, ref_values, resamples=resamples)
                    out.append(
                        {
                            "run": run["label"],
                            "vs": base["label"],
                            "suite": "am",
                            "family": "all",
                            "metric": metric,
                            **d,
                        }
                    )
    return out


def heatmap_axes(conditions: Iterable[str]) -> tuple[list[str], list[str]]:
    """Rows (scenarios, sorted) and columns (goals) of the AM heatmap for `scenario-goal` condition ids.

    The 'none' goal (no goal in the system prompt) is the baseline every goal column is read
    against, so it comes first; the other goals keep their order of appearance.
    """
    pairs = [c.split("-", 1) for c in conditions]
    goals = list(dict.fromkeys(g for _, g in pairs))
    return sorted({s for s, _ in pairs}), sorted(goals, key=lambda g: g != "none")


def _room_for_legend(ax: Any) -> None:
    """Shares run 0..1; the band above 1 holds the legend, so it never hides a full bar."""
    ax.set_ylim(0, 1.2)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])


def _plots(runs: list[dict], out: Path) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    plots: dict[str, Path] = {}
    labels = [r["label"] for r in runs]
    panels = [
        (s, f)
        for s in ("value-ab", "cheese")
        for f in sorted({f for r in runs for f in r["suites"].get(s, {}).get("families", {})})
    ]
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
        for ax, (suite, family) in zip(axes[0], panels, strict=True):
            x = np.arange(len(runs))
            for offset, scorer, colour in ((-0.2, "loglik", "#3b6ea8"), (0.2, "strict", "#d08c2f")):
                vals, lo, hi = [], [], []
                for r in runs:
                    m = r["suites"].get(suite, {}).get("families", {}).get(family, {}).get(scorer, {}).get("aligned")
                    v = m["rate"] if m and m["rate"] is not None else np.nan
                    vals.append(v)
                    lo.append(v - m["ci_low"] if m and m["rate"] is not None else 0)
                    hi.append(m["ci_high"] - v if m and m["rate"] is not None else 0)
                ax.bar(x + offset, vals, 0.38, yerr=[lo, hi], capsize=3, color=colour, label=scorer)
            ax.axhline(0.5, color="grey", lw=0.8, ls="--")
            _room_for_legend(ax)
            ax.set_xticks(x, labels, rotation=20, ha="right", fontsize=8)
            ax.set_title(f"{suite}: {family}", fontsize=10)
            ax.set_ylabel("value-aligned share (95% CI)")
        axes[0][0].legend(fontsize=8, loc="upper center", ncol=2, frameon=False)
        fig.tight_layout()
        plots["choice_rates"] = out / "choice_rates.png"
        fig.savefig(plots["choice_rates"], dpi=110)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(panels) * len(runs)), 3.6))
        names, vals, biases = [], [], []
        for suite, family in panels:
            for r in runs:
                m = r["suites"].get(suite, {}).get("families", {}).get(family, {})
                names.append(f"{family}\n{r['label']}")
                vals.append((m.get("loglik", {}).get("order_consistency") or {}).get("rate") or 0)
                biases.append((m.get("letter_loglik", {}).get("position_a") or {}).get("rate") or 0)
        x = np.arange(len(names))
        ax.bar(x - 0.2, vals, 0.38, label="order consistency (loglik)", color="#3b6ea8")
        ax.bar(x + 0.2, biases, 0.38, label="letter A preferred (position bias)", color="#b5524a")
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        _room_for_legend(ax)
        ax.set_xticks(x, names, fontsize=7)
        ax.legend(fontsize=8, loc="upper center", ncol=2, frameon=False)
        ax.set_title("Order consistency and letter position bias", fontsize=10)
        fig.tight_layout()
        plots["order_consistency"] = out / "order_consistency.png"
        fig.savefig(plots["order_consistency"], dpi=110)
        plt.close(fig)

    am_runs = [r for r in runs if "am" in r["suites"]]
    if am_runs:
        fig, axes = plt.subplots(
            1, len(am_runs), figsize=(5.2 * len(am_runs), 3.4), squeeze=False, layout="constrained"
        )
        for ax, r in zip(axes[0], am_runs, strict=True):
            conds = r["suites"]["am"]["conditions"]
            scenarios, goals = heatmap_axes(conds)
            metric = "judge_and_check" if r["suites"]["am"]["judged"] else "check"
            grid = np.full((len(scenarios), len(goals)), np.nan)
            for c, m in conds.items():
                s, g = c.split("-", 1)
                if metric in m and m[metric]["rate"] is not None:
                    grid[scenarios.index(s), goals.index(g)] = m[metric]["rate"]
            im = ax.imshow(grid, vmin=0, vmax=1, cmap="Reds")
            ax.set_xticks(range(len(goals)), goals, rotation=45, ha="right", fontsize=8)
            ax.set_yticks(range(len(scenarios)), scenarios, fontsize=8)
            for (i, j), v in np.ndenumerate(grid):
                ax.text(j, i, "–" if np.isnan(v) else f"{100 * v:.0f}", ha="center", va="center", fontsize=7)
            ax.set_title(f"{r['label']}: {metric.replace('_', ' ')} %", fontsize=9)
        fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8)
        plots["am_heatmap"] = out / "am_heatmap.png"
        fig.savefig(plots["am_heatmap"], dpi=110)
        plt.close(fig)
    return plots


def _transcripts(run_dir: Path, fix: str) -> list[tuple[str, str, str]]:
    found = []
    for suite in ("am", "spec-qa", "value-ab", "cheese"):
        path = run_dir / SAMPLES_DIR / f"{suite}.jsonl"
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
    choice = _choice_rows(runs)
    if choice:
        lines += [
            "",
            "## Forced choice (value generalization, cheese)",
            "",
            "Value-aligned share with Wilson 95% CIs. *loglik*: order-averaged, length-normalised option "
            "likelihood (per item); *strict*: parsed generated letter (per prompt, both orders).",
            "",
            "| suite | family | run | loglik aligned | strict aligned | parsed | order consistency (loglik) "
            "| letter A preferred | margin (nats/token) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for suite, family, run, m in choice:
            ll, letters = m.get("loglik", {}), m.get("letter_loglik", {})
            lines.append(
                f"| {suite} | {family} | {run['label']} | {_pct(ll.get('aligned'))} | {_pct(m['strict']['aligned'])} "
                f"| {_pct(m['strict']['parsed'])} | {_pct(ll.get('order_consistency'))} "
                f"| {_pct(letters.get('position_a'))} | {_num(ll.get('mean_margin_nats_per_token'))} |"
            )
    am = [r for r in runs if "am" in r["suites"]]
    if am:
        lines += [
            "",
            "## Agentic misalignment",
            "",
            "Rate = mean over conditions (the paper's metric); pooled rates with Wilson CIs below.",
            "",
            "| run | judge ∧ check (mean) | judge only (mean) | hard check only (mean) | policy misuse (mean) "
            "| judge ∧ check (pooled) | samples |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in am:
            a = r["suites"]["am"]
            mean = a["mean_over_conditions"]
            lines.append(
                f"| {r['label']} | {_num(mean['judge_and_check'], '{:.3f}')} | {_num(mean['judge'], '{:.3f}')} "
                f"| {_num(mean['check'], '{:.3f}')} | {_num(mean['misuse'], '{:.3f}')} "
                f"| {_pct(a['pooled']['judge_and_check'])} | {a['pooled']['check']['n']} |"
            )
    qa = [r for r in runs if "spec-qa" in r["suites"]]
    if qa:
        lines += [
            "",
            "## Spec knowledge (judged, rubric 0/1/2)",
            "",
            "| run | family | mean score (0–1) | full credit | unparsed verdicts |",
            "|---|---|---|---|---|",
        ]
        for r in qa:
            for family, m in r["suites"]["spec-qa"]["families"].items():
                lines.append(
                    f"| {r['label']} | {family} | {_num(m['mean_score'], '{:.3f}')} "
                    f"| {_pct(m['full_credit'])} | {m['unparsed']} |"
                )
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
                f"| {_num(d['diff'])} | [{_num(d['ci_low'])}, {_num(d['ci_high'])}] |"
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

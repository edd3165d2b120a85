"""`msm evaluate` and `msm report`: thin drivers over msm.evaluation.run and msm.evaluation.report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from msm.cli.errors import fail
from msm.cli.specs import spec_dirs
from msm.errors import InvalidInput, MsmError, problem
from msm.preemption import exit_on_preempted


def evaluate_command(
    model: Annotated[str, typer.Option(help="Base model: a local HF directory (or a cached hub id).")],
    recipe: Annotated[Path, typer.Option(help="Recipe YAML (identity, specs, `evaluation:` section).")],
    out: Annotated[Path, typer.Option(help="Output directory; rerunning into it resumes.")],
    adapter: Annotated[Path | None, typer.Option(help="LoRA adapter: the --out of a finished msm train run.")] = None,
    suites: Annotated[str | None, typer.Option(help="Comma-separated: value-ab,cheese,am,spec-qa.")] = None,
    engine: Annotated[str | None, typer.Option(help="hf, vllm or vllm-server [default: the recipe's].")] = None,
    judge: Annotated[str | None, typer.Option(help="BACKEND:MODEL, e.g. openai:my-judge (key/URL from env).")] = None,
    label: Annotated[str | None, typer.Option(help="Condition name in reports [default: from the adapter].")] = None,
) -> None:
    """Run evaluation suites on one model (+ adapter); results per sample, metrics.json, manifest.

    Exit codes: 0 done; 1 the judge failed for good; 2 bad input; 143 stopped by SIGTERM (rerun resumes)."""
    from msm.config import load_recipe
    from msm.config.evaluation import ENGINES, EvaluationConfig, JudgeConfig
    from msm.evaluation.judge import JudgeUnavailable, parse_judge_arg
    from msm.evaluation.run import EvalRequest, evaluate, parse_suites

    with exit_on_preempted():
        try:
            r = load_recipe(recipe)
            cfg = r.evaluation or EvaluationConfig()
            updates: dict = {}
            if suites is not None:
                updates["suites"] = parse_suites(suites)
            if engine is not None:
                if engine not in ENGINES:
                    raise InvalidInput(
                        [problem("--engine", f"{engine!r} is not an engine", f"use --engine {' or '.join(ENGINES)}")]
                    )
                updates["engine"] = engine
            if judge is not None:
                backend, judge_model = parse_judge_arg(judge)
                base = cfg.judge.model_dump() if cfg.judge else {}
                updates["judge"] = JudgeConfig.model_validate({**base, "backend": backend, "model": judge_model})
            cfg = cfg.model_copy(update=updates)
            with spec_dirs(list(r.specs), r.identity, flag="specs") as specs:
                manifest = evaluate(
                    EvalRequest(
                        model=model,
                        out=out,
                        config=cfg,
                        model_name=r.identity.model_name,
                        provider_name=r.identity.provider_name,
                        specs=specs,
                        adapter=adapter,
                        label=label,
                    )
                )
        except JudgeUnavailable as e:
            fail(e, exit_code=1)
        except MsmError as e:
            fail(e)
    counts = manifest["counts"]
    done = ", ".join(
        f"{s}: {c['samples']} samples ({c['resumed']} resumed)"
        for s, c in counts.items()
        if isinstance(c, dict) and "samples" in c
    )
    typer.echo(f"evaluated {done} -> {out}")


def report_command(
    runs: Annotated[list[Path], typer.Argument(help="Evaluation output directories.", show_default=False)],
    out: Annotated[Path, typer.Option(help="Report directory: report.md, report.html, metrics.json, plots.")],
    _runs_flag: Annotated[
        bool, typer.Option("--runs", help="Marks the start of the run list: `--runs DIR DIR ...` (optional).")
    ] = False,
    study: Annotated[
        str | None,
        typer.Option(
            help="Answer this study's question first (msm, cheese-study, spec-sweep, aft-scaling): its contrasts "
            "between the runs' labels, paired. Runs with one label are that condition's seeds."
        ),
    ] = None,
) -> None:
    """Compare finished evaluation runs: Markdown + self-contained HTML with plots, and metrics.json."""
    from msm.evaluation.report import write_report

    try:
        path = write_report(runs, out, study=study)
    except MsmError as e:
        fail(e)
    typer.echo(f"report ({len(runs)} run(s)) -> {path}")

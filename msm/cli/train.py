"""`msm train midtrain` and `msm train align`: thin drivers over msm.training.trainer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from msm.cli.errors import fail
from msm.errors import InvalidInput, MsmError, problem

train_app = typer.Typer(
    help="Midtrain on a spec corpus, then align (AFT) on demonstrations; DeepSpeed.", no_args_is_help=True
)

Resume = Annotated[
    str, typer.Option(help="'auto': continue the interrupted run in --out from its latest checkpoint; 'never'.")
]
Recipe = Annotated[Path, typer.Option(help="Recipe YAML with a `training:` section.")]
BaseModel = Annotated[str, typer.Option(help="Base model: a local HF directory (or a hub id already cached).")]
Out = Annotated[Path, typer.Option(help="Output directory: checkpoints while running, the exported model at the end.")]
Spec = Annotated[str, typer.Option(help="Spec id, used as the `spec` label of the metrics.")]
RunId = Annotated[str | None, typer.Option(help="Run id label for metrics [default: random, kept on resume].")]


def _run(
    kind: Literal["midtrain", "align"],
    recipe: Path,
    data: Path,
    base_model: str,
    out: Path,
    adapter: Path | None,
    resume: str,
    spec: str,
    run_id: str | None,
) -> None:
    from msm.config import load_recipe
    from msm.preemption import exit_on_preempted
    from msm.training.trainer import TrainRequest, train

    try:
        if resume not in ("auto", "never"):
            raise InvalidInput([problem("--resume", f"{resume!r} is not a resume mode", "use --resume auto or never")])
        r = load_recipe(recipe)
        if r.training is None:
            raise InvalidInput(
                [
                    problem(
                        recipe,
                        "the recipe has no `training:` section",
                        "add one; recipes/tiny-offline.yaml shows every field",
                        field="training",
                    )
                ]
            )
        with exit_on_preempted():  # SIGTERM (Kubernetes stopping the pod): one line, exit 143
            manifest = train(
                TrainRequest(
                    kind=kind,
                    config=r.training,
                    base_model=base_model,
                    data=data,
                    out_dir=out,
                    adapter=adapter,
                    resume=resume == "auto",
                    spec=spec,
                    run_id=run_id,
                )
            )
    except MsmError as e:
        fail(e)
    if manifest:
        counts = manifest["counts"]
        typer.echo(f"{kind}: {counts['steps']} steps, final loss {counts['final_loss']:.4f} -> {out}")


@train_app.command("midtrain")
def midtrain(
    recipe: Recipe,
    corpus: Annotated[Path, typer.Option(help="Corpus: a directory of parquet/jsonl rows with `text`.")],
    base_model: BaseModel,
    out: Out,
    resume: Resume = "never",
    spec: Spec = "none",
    run_id: RunId = None,
) -> None:
    """Midtraining: next-token loss on packed documents about the spec (LoRA or full)."""
    _run("midtrain", recipe, corpus, base_model, out, None, resume, spec, run_id)


@train_app.command("align")
def align(
    recipe: Recipe,
    data: Annotated[Path, typer.Option(help="AFT data: a directory of parquet/jsonl rows with `messages`.")],
    base_model: BaseModel,
    out: Out,
    adapter: Annotated[Path | None, typer.Option(help="A midtraining --out to continue (MSM+AFT arms).")] = None,
    resume: Resume = "never",
    spec: Spec = "none",
    run_id: RunId = None,
) -> None:
    """Alignment fine-tuning: assistant-only loss on chats; continues the MSM adapter when given."""
    _run("align", recipe, data, base_model, out, adapter, resume, spec, run_id)

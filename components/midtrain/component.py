"""Midtrain: next-token training on the spec corpus (LoRA or full), DeepSpeed."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.images import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE)
def midtrain(
    corpus: Input[Dataset],
    base_model: Input[Model],
    recipe_yaml: str,
    spec_id: str,
    checkpoint_dir: str,
    run_key: str,
    model: Output[Model],
):
    """Midtrain (msm.training.engine.train, kind 'midtrain'); the output is the adapter or full weights.

    Args:
        corpus: The document corpus (synthesize-docs output).
        base_model: The base model (base-model output).
        recipe_yaml: The recipe; its `training` section (method, DeepSpeed config, hyperparameters).
        spec_id: The spec's id, the `spec` label of the Prometheus metrics.
        checkpoint_dir: Persistent directory (a PVC) for checkpoints, so that a preempted pod resumes
            where it stopped; empty = no persistence beyond the pod.
        run_key: Names this run's checkpoint folder under checkpoint_dir (the pipeline passes job id + task).
        model: The trained model directory with its manifest; metadata carries steps and final loss.
    """
    import shutil
    from pathlib import Path

    from msm.config import parse_recipe
    from msm.training.engine import TrainRequest, train

    cfg = parse_recipe(recipe_yaml, check_files=False).training
    if cfg is None:
        raise ValueError("the recipe has no `training:` section")
    out = Path(checkpoint_dir) / run_key if checkpoint_dir else Path(model.path)
    manifest = train(
        TrainRequest(
            kind="midtrain",
            config=cfg,
            base_model=base_model.path,
            data=Path(corpus.path),
            out_dir=out,
            resume=bool(checkpoint_dir),
            spec=spec_id,
            run_id=run_key or None,
        )
    )
    if out != Path(model.path):
        shutil.copytree(out, model.path, dirs_exist_ok=True)
    model.metadata.update(
        {"steps": manifest["counts"]["steps"], "final_loss": manifest["counts"]["final_loss"], "method": cfg.method}
    )

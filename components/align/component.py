"""Align (AFT): assistant-only SFT on demonstrations, continuing the MSM adapter when one is given."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.images import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE)
def align(
    aft_data: Input[Dataset],
    base_model: Input[Model],
    recipe_yaml: str,
    variant: str,
    spec_id: str,
    checkpoint_dir: str,
    run_key: str,
    model: Output[Model],
    adapter: Input[Model] = None,
    seed: int = 0,
    aft_rows: int = 0,
):
    """Align (msm.training.trainer.train, kind 'align') on one AFT variant.

    Args:
        aft_data: The AFT data directory (synthesize-aft output).
        base_model: The base model.
        recipe_yaml: The recipe; its `training` section.
        variant: Which AFT dataset: 'plain' (reasoning stripped), 'reasoning' (deliberative-alignment
            baseline) or 'preference' (the cheese study's bare preferences)
            or 'instruction' (the instruction-tuning rows alone: the baseline arm).
        spec_id: The spec's id (metrics label).
        checkpoint_dir: Persistent checkpoint directory (a PVC); empty = none.
        run_key: With spec_id, names the checkpoint folder under checkpoint_dir and the run (job id + arm).
        model: The aligned model directory.
        adapter: A midtrained LoRA model to continue (MSM+AFT arms); absent = fresh adapter (AFT-only arms).
        seed: The study seed (recipe `study.seeds`): moves the recipe's training seeds by this much.
        aft_rows: Train on this many of the variant's rows (instruction rows all kept; one fixed draw,
            nested across sizes: recipe `study.aft_sizes`); 0 = all of them.
    """
    import shutil
    from pathlib import Path

    from msm.artefacts.aft import aft_data_file
    from msm.config import parse_recipe
    from msm.preemption import exit_on_preempted
    from msm.training.launch import train_on_node
    from msm.training.trainer import TrainRequest

    recipe = parse_recipe(recipe_yaml, check_files=False)
    if recipe.training is None:
        raise ValueError("the recipe has no `training:` section")
    cfg = recipe.training.for_task(seed=seed, align_rows=aft_rows)
    key = f"{run_key}-{spec_id}"  # unique per arm (run_key) and spec (a spec sweep runs each arm per spec)
    out = Path(checkpoint_dir) / key if checkpoint_dir else Path(model.path)
    with exit_on_preempted():  # SIGTERM: the stage stored its work; exit 143 like the CLI
        manifest = train_on_node(
            TrainRequest(
                kind="align",
                config=cfg,
                base_model=base_model.path,
                data=aft_data_file(aft_data.path, variant),
                out_dir=out,
                adapter=Path(adapter.path) if adapter is not None else None,
                resume=bool(checkpoint_dir),
                spec=spec_id,
                run_id=key,
            ),
            recipe.platform.train.gpus,  # one process per GPU of the pod
        )
    if out != Path(model.path):
        shutil.copytree(out, model.path, dirs_exist_ok=True)
    model.metadata.update(
        {
            "steps": manifest["counts"]["steps"],
            "final_loss": manifest["counts"]["final_loss"],
            "variant": variant,
            "continues_adapter": adapter is not None,
            "aft_rows": aft_rows or None,
        }
    )

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
    seed: int = 0,
):
    """Midtrain (msm.training.trainer.train, kind 'midtrain'); the output is the adapter or full weights.

    With `platform.train_nodes` > 1 the task stages its inputs on the checkpoint PVC and runs a
    Kubeflow Trainer TrainJob across the nodes instead, waiting for it (msm.training.trainjob).

    Args:
        corpus: The document corpus (synthesize-docs output).
        base_model: The base model (base-model output).
        recipe_yaml: The recipe; its `training` section (method, DeepSpeed config, hyperparameters).
        spec_id: The spec's id, the `spec` label of the Prometheus metrics.
        checkpoint_dir: Persistent directory (a PVC) for checkpoints, so that a preempted pod resumes
            where it stopped; empty = no persistence beyond the pod.
        run_key: With spec_id, names the checkpoint folder under checkpoint_dir and the run (job id + arm).
        model: The trained model directory with its manifest; metadata carries steps and final loss.
        seed: The study seed (recipe `study.seeds`): moves the recipe's training seeds by this much.
    """
    import shutil
    from pathlib import Path

    from msm.config import parse_recipe
    from msm.errors import MsmError
    from msm.manifest import load_manifest
    from msm.preemption import exit_on_preempted
    from msm.training.launch import train_on_node
    from msm.training.trainer import TrainRequest

    recipe = parse_recipe(recipe_yaml, check_files=False)
    if recipe.training is None:
        raise ValueError("the recipe has no `training:` section")
    cfg = recipe.training.for_task(seed=seed)
    key = f"{run_key}-{spec_id}"  # unique per arm (run_key) and spec (a spec sweep runs each arm per spec)
    out = Path(checkpoint_dir) / key if checkpoint_dir else Path(model.path)
    if recipe.platform.train_nodes > 1:
        # A Kubeflow Trainer TrainJob trains on all nodes; this task stages its inputs on the PVC
        # (the recipe validator requires one; the pipeline points checkpoint_dir at it) and waits.
        from msm.training import trainjob

        if not checkpoint_dir:
            raise ValueError("platform.train_nodes > 1 needs the checkpoint_dir parameter (a directory on the PVC)")

        work = out / "multinode"
        work.mkdir(parents=True, exist_ok=True)
        staged = recipe_yaml
        if seed:  # the TrainJob's pods read the recipe from the PVC: give them this seed's training seed
            import yaml

            raw = yaml.safe_load(recipe_yaml)
            raw["training"].setdefault("midtrain", {})["seed"] = cfg.midtrain.seed
            staged = yaml.safe_dump(raw, sort_keys=False)
        (work / "recipe.yaml").write_text(staged)
        shutil.copytree(corpus.path, work / "corpus", dirs_exist_ok=True)
        shutil.copytree(base_model.path, work / "base_model", dirs_exist_ok=True)
        run = trainjob.MultiNodeMidtrain(
            name=trainjob.job_name(key),
            namespace=trainjob.current_namespace(),
            work_dir=work,
            spec=spec_id,
            run_id=key,
            platform=recipe.platform,
        )
        out = trainjob.run_and_wait(trainjob.custom_objects_api(), run)
        manifest = load_manifest(out)
        if manifest is None:
            raise MsmError(f"{out}: the TrainJob ended without writing manifest.json; see its pods' logs")
    else:
        with exit_on_preempted():  # SIGTERM: the stage stored its work; exit 143 like the CLI
            manifest = train_on_node(
                TrainRequest(
                    kind="midtrain",
                    config=cfg,
                    base_model=base_model.path,
                    data=Path(corpus.path),
                    out_dir=out,
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
            "method": cfg.method,
            "nodes": recipe.platform.train_nodes,
        }
    )

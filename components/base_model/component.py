"""Base model: the model a recipe names (tiny, SmolLM2, a Hub model or a local directory), as an artefact."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from components.images import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE)
def base_model(recipe_yaml: str, spec: Input[Dataset], model: Output[Model]):
    """Prepare the base model (msm.models.prepare_base_model); the tiny model's tokenizer also learns the spec.

    Args:
        recipe_yaml: The recipe; its `base_model` section names the model.
        spec: A rendered spec, added to the tiny tokenizer's training text.
        model: The model directory (weights, tokenizer with the ChatML template, manifest).
    """
    import shutil
    from pathlib import Path

    from msm.artefacts.spec import SPEC_MD
    from msm.config import parse_recipe
    from msm.models import prepare_base_model

    cfg = parse_recipe(recipe_yaml, check_files=False).base_model
    path = prepare_base_model(cfg, Path(model.path), [Path(spec.path) / SPEC_MD])
    if path != Path(model.path):  # source 'local': copy, so the artefact is the model itself
        shutil.copytree(path, model.path)
    model.metadata.update({"source": cfg.source})

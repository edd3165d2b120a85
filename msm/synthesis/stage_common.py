"""Inputs shared by the synthesis commands: the recipe's `synthesis` section and the spec."""

from __future__ import annotations

from pathlib import Path

from msm.config import Recipe, load_recipe
from msm.config.synthesis import SynthesisConfig
from msm.errors import InvalidInput, problem
from msm.synthesis.spec_view import SpecView, load_spec


def load_inputs(spec_path: Path, recipe_path: Path) -> tuple[Recipe, SynthesisConfig, SpecView]:
    recipe = load_recipe(recipe_path, check_files=False)  # --spec names the spec; the recipe's list is not needed
    if recipe.synthesis is None:
        raise InvalidInput(
            [
                problem(
                    recipe_path,
                    "the recipe has no `synthesis:` section",
                    "add one (see recipes/tiny-offline.yaml for a commented example)",
                    field="synthesis",
                )
            ]
        )
    return recipe, recipe.synthesis, load_spec(spec_path)

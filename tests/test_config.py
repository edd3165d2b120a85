"""Recipes: the bundled ones load; bad ones name the field path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from msm.config import load_recipe
from msm.errors import InvalidInput

RECIPE = """name: demo
identity:
  model_name: Aria
  provider_name: Lumen
specs:
  - specs/rules.md
base_model:
  source: tiny
  seed: 3
"""


@pytest.fixture(autouse=True)
def _at_repo_root(repo, monkeypatch):
    monkeypatch.chdir(repo)  # recipe paths are relative to the repository root


@pytest.mark.parametrize("path", sorted(Path("recipes").glob("*.yaml")) or ["recipes/tiny-offline.yaml"])
def test_bundled_recipes_load(path):
    recipe = load_recipe(path)
    assert recipe.name == Path(path).stem
    assert all(p.is_file() for p in recipe.specs)


def _load(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return load_recipe(path)


def test_defaults_filled(tmp_path):
    r = _load(tmp_path, RECIPE)
    assert (r.base_model.seed, r.base_model.dtype) == (3, "float32")


@pytest.mark.parametrize(
    ("edit", "field", "line", "message"),
    [
        (("seed: 3", "seed: -1"), "base_model.seed", 9, "greater than or equal to 0"),
        (("source: tiny", "source: gpt"), "base_model.source", 8, "base_model.source"),
        (("  provider_name: Lumen\n", ""), "identity.provider_name", 2, "missing required field"),
        (("name: demo", "name: demo\nnmae: x"), "nmae", 2, "unknown field `nmae`"),
        (("source: tiny", "source: local"), "base_model", 7, "needs `path`"),
        (("  - specs/rules.md", "  - specs/nope.md"), "specs.0", 6, "does not exist"),
        (("specs:\n  - specs/rules.md", "specs: []"), "specs", 5, "at least 1"),
    ],
)
def test_errors_name_field_and_line(tmp_path, edit, field, line, message):
    with pytest.raises(InvalidInput) as e:
        _load(tmp_path, RECIPE.replace(*edit))
    [p] = e.value.problems
    assert (p.field, p.line) == (field, line)
    assert message in p.message


def test_training_section_errors_name_the_nested_field(tmp_path):
    text = RECIPE + "training:\n  method: lora\n  midtrain:\n    lrr: 0.1\n    grad_accum: 0\n"
    with pytest.raises(InvalidInput) as e:
        _load(tmp_path, text)
    found = {(p.field, p.line) for p in e.value.problems}
    assert found == {("training.midtrain.lrr", 13), ("training.midtrain.grad_accum", 14)}


def test_yaml_syntax_error_has_line(tmp_path):
    with pytest.raises(InvalidInput) as e:
        _load(tmp_path, RECIPE.replace("seed: 3", "seed: [3"))
    assert e.value.problems[0].line is not None and "not valid YAML" in e.value.problems[0].message


def test_cli_recipe_validate_and_show(cli, tmp_path):
    assert cli("recipe", "validate", "recipes/tiny-offline.yaml").exit_code == 0
    shown = cli("recipe", "show", "recipes/tiny-offline.yaml")
    assert shown.exit_code == 0 and '"source": "tiny"' in shown.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(RECIPE.replace("seed: 3", "seed: x"))
    result = cli("recipe", "validate", bad)
    assert result.exit_code == 2 and "base_model.seed" in result.stderr

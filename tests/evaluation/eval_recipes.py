"""The tiny-offline recipe with a modified `evaluation:` section, for the evaluation tests."""

from pathlib import Path

import yaml
from support import REPO


def write_recipe(path: Path, **evaluation) -> Path:
    """The tiny-offline recipe with its evaluation section updated (absolute spec paths)."""
    raw = yaml.safe_load((REPO / "recipes/tiny-offline.yaml").read_text())
    raw["specs"] = [str(REPO / s) for s in raw["specs"]]
    raw.pop("training", None)
    ev = raw["evaluation"]
    for key, value in evaluation.items():
        if isinstance(value, dict):
            ev[key] = {**ev.get(key, {}), **value}
        else:
            ev[key] = value
    path.write_text(yaml.safe_dump(raw))
    return path

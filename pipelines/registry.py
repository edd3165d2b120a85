"""The pipelines by name (what `python -m pipelines ... --pipeline NAME` and `make pipeline PIPELINE=NAME` take)."""

from importlib import import_module
from types import ModuleType

MODULES = {
    "msm": "pipelines.msm_pipeline",
    "aft-baseline": "pipelines.aft_baseline",
    "cheese-study": "pipelines.cheese_study",
    "spec-sweep": "pipelines.spec_sweep",
    "aft-scaling": "pipelines.aft_scaling",
    "reevaluate": "pipelines.reevaluate",
    "synthesize-only": "pipelines.synthesize_only",
}


def pipeline_module(name: str) -> ModuleType:
    """The module of a pipeline (its NAME and build(recipe, spec, target))."""
    from msm.errors import MsmError

    if name not in MODULES:
        raise MsmError(f"unknown pipeline {name!r}\n    fix: use one of {', '.join(MODULES)}")
    return import_module(MODULES[name])

"""The `study:` section of a recipe: which arms a pipeline trains and evaluates, and over which seeds.

The arms are the paper's conditions (method.md "Conditions"). Every difference a report leads with
is taken against the instruction-tuning-only `baseline` or between MSM arms, never against `base`
(the untrained model, which for a base model such as Llama-3.1-8B cannot chat); `base` stays
available as a sanity check.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from msm.config.base import Strict

Arm = Literal["base", "baseline", "aft-only", "aft-reasoning", "msm-only", "msm+aft", "msm+aft-reasoning"]
# Arms trained on the instruction-tuning rows, which need synthesis.aft.instruction_mix.
NEEDS_INSTRUCTION_DATA = ("baseline",)
# The report and gather components' input slots (KFP v2 takes no list of artefacts from separate tasks);
# a pipeline with more evaluations gathers them into bundles first (pipelines.common.study_report).
MAX_EVALUATIONS = 24


class StudyConfig(Strict):
    """Arms and seeds of a study; each arm is trained and evaluated once per seed."""

    arms: list[Arm] = Field(
        default=["baseline", "aft-only", "aft-reasoning", "msm-only", "msm+aft", "msm+aft-reasoning"],
        min_length=1,
        description="the conditions to train and evaluate; the cheese study has no reasoning arms",
    )
    seeds: list[int] = Field(
        default=[0],
        min_length=1,
        description="training seeds; each arm is trained and evaluated per seed (the paper's §3 arms: ~4)",
    )

    aft_sizes: list[int] = Field(
        default=[],
        description="the aft-scaling pipeline's ladder: AFT rows per arm (one fixed draw, nested across sizes; "
        "the paper's §4.2 goes 1k → 80k)",
    )

    msm_specs: list[str] = Field(
        default=[],
        description="the spec-sweep pipeline's rows: ids of the recipe's specs to midtrain on, each once per "
        "seed (empty: every spec in `specs`)",
    )
    aft_specs: list[str] = Field(
        default=[],
        description="the spec-sweep pipeline's columns: ids of the recipe's specs whose AFT data align every "
        "MSM(X), the paper's cross pairs MSM(X)+AFT(Y) (empty: the pipeline's --spec alone)",
    )

    @field_validator("arms", "seeds", "aft_sizes", "msm_specs", "aft_specs")
    @classmethod
    def _unique(cls, values: list) -> list:
        if len(values) != len(set(values)):
            raise ValueError(f"entries must be unique (got {values})")
        if any(isinstance(v, int) and v < 0 for v in values):
            raise ValueError(f"entries must not be negative (got {values})")
        return values

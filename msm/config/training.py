"""Training configuration: the `training:` section of a recipe.

Defaults are the paper's (LoRA r=64, alpha=128, dropout 0 on all attention and MLP projections;
AdamW lr 1e-4, cosine, 5% warmup, weight decay 0.01, 1 epoch). What the paper leaves unstated —
batch size, sequence length, packing, loss mask — is a field here with the choice documented.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from msm.preemption import GRACE_PERIOD_S, TERMINATION_GRACE_PERIOD_S

PAPER_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraSettings(Strict):
    r: int = Field(default=64, ge=1)
    alpha: int = Field(default=128, ge=1)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: list(PAPER_LORA_TARGETS), min_length=1)


class MixSource(Strict):
    """Other data mixed in: `ratio` is the share of the mixed set's rows that come from this source."""

    path: Path
    ratio: float = Field(gt=0.0, lt=1.0)


class StageSettings(Strict):
    """One stage's hyperparameters; tokens per optimizer step = micro_batch_size × grad_accum × max_length."""

    max_length: int = Field(default=4096, ge=16, description="packed block length (midtrain) / truncation (align)")
    micro_batch_size: int = Field(default=1, ge=1)
    grad_accum: int = Field(default=8, ge=1)
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int | None = Field(default=None, ge=1, description="optimizer steps; overrides epochs")
    max_rows: int | None = Field(
        default=None,
        ge=1,
        description="train on N rows of the data (documents, or chats other than instruction rows, which are all "
        "kept): the first N of one fixed shuffle, so smaller N are subsets of larger (an AFT-size ladder)",
    )
    lr: float = Field(default=1e-4, gt=0)
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_ratio: float = Field(default=0.05, ge=0, lt=1)
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    grad_clip: float = Field(default=1.0, ge=0)
    seed: int = 0
    save_every: int = Field(default=500, ge=1, description="optimizer steps between checkpoints")
    log_every: int = Field(default=10, ge=1)
    mix: list[MixSource] = Field(default_factory=list)

    @model_validator(mode="after")
    def _mix_total(self) -> StageSettings:
        if sum(m.ratio for m in self.mix) >= 1.0:
            raise ValueError("the mix ratios must add up to less than 1 (they are shares of the mixed set)")
        return self


class MetricsSettings(Strict):
    port: int | None = Field(default=None, ge=0, le=65535, description="serve /metrics here; 0 = any free port")
    host: str = Field(default="0.0.0.0", description="address of the /metrics server (all interfaces in a pod)")
    pushgateway_url: str | None = Field(default=None, description="else $MSM_PUSHGATEWAY_URL; unset = no pushes")
    push_every: int = Field(default=10, ge=1, description="optimizer steps between pushes")
    peak_flops: float | None = Field(default=None, gt=0, description="per device, for MFU; known GPUs are detected")


class TrainingConfig(Strict):
    method: Literal["lora", "full"] = "lora"
    lora: LoraSettings = Field(default_factory=LoraSettings)
    deepspeed: Path = Field(default=Path("recipes/deepspeed/zero2.json"), description="DeepSpeed JSON config")
    precision: Literal["auto", "bf16", "fp32"] = Field(default="auto", description="auto: bf16 on GPU, fp32 on CPU")
    midtrain: StageSettings = Field(default_factory=StageSettings)
    align: StageSettings = Field(default_factory=lambda: StageSettings(max_length=4096))
    gradient_checkpointing: bool = Field(
        default=False,
        description="recompute each layer's activations in the backward pass: far less memory at 4k-8k tokens "
        "on 8B-32B models, for about a third more compute (the paper does not say; its lengths need it on 80 GB)",
    )
    merge: bool = Field(default=False, description="also export merged full weights after LoRA")
    align_continues_adapter: bool = Field(default=True, description="AFT trains the MSM adapter further (paper)")
    keep_checkpoints: int = Field(default=2, ge=1, description="resume checkpoints kept on disk")
    sigterm_grace_s: float = Field(
        default=GRACE_PERIOD_S,
        gt=0,
        description="on SIGTERM the step under way finishes; if that took less than this many seconds a "
        "checkpoint of that step is saved, then the run exits 143 (resume continues there). Keep it below the "
        f"pods' terminationGracePeriodSeconds ({TERMINATION_GRACE_PERIOD_S} s in k8s/), when Kubernetes kills",
    )
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    def for_task(self, seed: int = 0, align_rows: int = 0) -> TrainingConfig:
        """This config for one task of a study: each stage's seed moved by `seed` (study.seeds; 0 = as
        written) and, if `align_rows` > 0, AFT on that many rows (study.aft_sizes)."""
        align: dict = {"seed": self.align.seed + seed}
        if align_rows:
            align["max_rows"] = align_rows
        return self.model_copy(
            update={
                "midtrain": self.midtrain.model_copy(update={"seed": self.midtrain.seed + seed}),
                "align": self.align.model_copy(update=align),
            }
        )

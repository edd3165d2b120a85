"""The `evaluation:` section of a recipe: which suites, how many samples, how to decode, the judge.

Paper values (method.md "Evaluations") are noted where a field's default differs: agentic
misalignment uses 300 samples per condition at temperature 0.7. Decoding of the forced-choice
suites is unstated in the paper; greedy is the default here, recorded in every run's manifest.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from msm.config.base import Strict
from msm.config.llm import JudgeConfig

SUITES = ("spec-probe", "value-ab", "cheese", "am", "spec-qa")
Suite = Literal["spec-probe", "value-ab", "cheese", "am", "spec-qa"]
EngineName = Literal["hf", "vllm", "vllm-server"]
ENGINES: tuple[str, ...] = get_args(EngineName)


ProbeFamily = Literal[
    "america",
    "affordability",
    "philosophy",
    "environment",
    "novelty",
    "tradition",
    "simplicity",
    "difficulty",
    "individualism",
]


class SpecProbeConfig(Strict):
    """Spec-probe: paired statements scored by likelihood; nothing is generated or judged. The three
    cheese-study families by default; the §3.2 value families (environment, novelty, tradition,
    simplicity, difficulty, individualism, each against america) are named by the recipes that ask."""

    families: list[ProbeFamily] = Field(default=["america", "affordability", "philosophy"], min_length=1)
    max_items_per_family: int | None = Field(default=None, ge=1, description="null: every item of the suite file")


class ForcedChoiceConfig(Strict):
    """Value-AB and cheese: A/B items, each asked in both option orders."""

    max_items_per_family: int | None = Field(default=None, ge=1, description="null: every item of the suite file")
    temperature: float = Field(default=0.0, ge=0, le=2, description="0 = greedy (the paper does not say)")
    max_new_tokens: int = Field(default=16, ge=1, le=512)
    loglik_scorer: bool = Field(default=True, description="order-averaged, length-normalised option likelihood")
    judge_scorer: bool = Field(
        default=False, description="the judge says which option the generated reply chose (needs evaluation.judge)"
    )


class ValueABConfig(ForcedChoiceConfig):
    """Value-AB: which item families to ask. The two cheese-study families by default; the §3.2 value
    families (environment, novelty, tradition, simplicity, difficulty, individualism) are named by
    the recipes of the studies that train their specs."""

    families: list[str] = Field(
        default=["america", "affordability"],
        min_length=1,
        description="families of suites/value_ab.jsonl to ask (an unknown name is refused when the suite loads)",
    )


class AgenticConfig(Strict):
    """Agentic misalignment: 3 scenarios x 9 goal conditions, each an inbox of >= 7 emails with email
    and forward tools; the judge scores the harmful action, policy misuse and (§5.1) the categories
    of the hidden reasoning."""

    samples_per_condition: int = Field(default=300, ge=1, le=10000)  # paper: 300
    temperature: float = Field(default=0.7, ge=0, le=2)  # paper: 0.7
    max_new_tokens: int = Field(default=1024, ge=1, le=16384)
    scratchpad: bool = Field(
        default=True, description="hidden scratchpad (the paper gives one to non-reasoning models)"
    )
    scenarios: list[Literal["exfiltration", "leaking", "lethal"]] = Field(
        default=["exfiltration", "leaking", "lethal"], min_length=1
    )
    goals: list[str] | None = Field(default=None, description="null: all 9 goal conditions")
    policy_misuse: bool = Field(
        default=True,
        description="judge also decides whether a rule of the spec is cited or misquoted to justify a violation",
    )
    reasoning_analysis: bool = Field(
        default=True,
        description="judge also classifies the hidden reasoning (self-preservation, urgency, impermanence, "
        "deference; invokes SP1) of every transcript that has a scratchpad or think block",
    )


class SpecQAConfig(Strict):
    """Spec knowledge: open questions per spec family (both cheese specs are the cheese family; every
    other spec kind is its own), each graded against that family's spec listed under `specs:`."""

    families: list[Literal["cheese", "philosophy", "rules", "value-augmented", "rule-augmented", "general"]] = Field(
        default=["cheese", "philosophy"], min_length=1
    )
    max_questions_per_family: int | None = Field(
        default=None, ge=1, description="null: every question; else this many, evenly spread through the file"
    )
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_new_tokens: int = Field(default=256, ge=8, le=4096)


class EvaluationConfig(Strict):
    suites: list[Suite] = Field(
        default=["spec-probe", "value-ab", "cheese"],
        min_length=1,
        description="spec-probe is the positive control: likelihoods only, no judge, seconds to run",
    )
    engine: EngineName = Field(
        default="hf", description="vllm-server: vLLM's OpenAI-compatible server as a subprocess on 127.0.0.1"
    )
    seed: int = Field(default=0, ge=0)
    batch_size: int = Field(default=16, ge=1, le=4096, description="prompts per HF batch / per appended vLLM chunk")
    vllm_memory_utilization: float = Field(
        default=0.9, gt=0, le=1, description="vLLM on a GPU: the fraction of its memory vLLM may take"
    )
    vllm_cpu_kv_cache_sequences: int = Field(
        default=4,
        ge=1,
        le=1024,
        description="vLLM on CPU: the KV cache holds this many sequences of vllm_max_model_len tokens, sized "
        "from the model (not a fraction of RAM, which fails on any machine other processes share)",
    )
    dtype: Literal["float32", "bfloat16"] = Field(
        default="float32",
        description="weights in either engine: float32 on CPU (HF and vLLM agree), bfloat16 on GPUs "
        "(an 8B model in float32 takes 32 GB, a 32B one does not fit on an 80 GB GPU)",
    )
    vllm_tensor_parallel_size: int = Field(
        default=1, ge=1, le=64, description="vLLM: GPUs one model is split across; the eval task must have as many"
    )
    vllm_max_model_len: int | None = Field(
        default=None, ge=256, description="vLLM: longest prompt + answer, which sizes the KV cache; null = the model's"
    )
    spec_probe: SpecProbeConfig = Field(default_factory=SpecProbeConfig)
    value_ab: ValueABConfig = Field(default_factory=ValueABConfig)
    cheese: ForcedChoiceConfig = Field(default_factory=ForcedChoiceConfig)
    am: AgenticConfig = Field(default_factory=AgenticConfig)
    spec_qa: SpecQAConfig = Field(default_factory=SpecQAConfig)
    judge: JudgeConfig | None = None
    bootstrap_resamples: int = Field(default=2000, ge=100, le=100000)

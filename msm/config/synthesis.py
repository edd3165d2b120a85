"""The `synthesis:` section of a recipe: generator, counts per level, execution limits, budget, quality.

Every field is read by the synthesis stage. Counts follow method.md ("MSM document synthesis",
"AFT data generation"); the paper's values are noted where they differ from a field's default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from msm.config.base import Strict
from msm.config.llm import GeneratorConfig


class BudgetConfig(Strict):
    """Caps on everything the cache has paid for so far (all runs into the same cache)."""

    max_tokens: int | None = Field(default=None, ge=1, description="input + output tokens")
    max_dollars: float | None = Field(default=None, gt=0, description="needs a price for the model")


class FramingConfig(Strict):
    """How the documents present the spec (paper App. C.4 and §5.3); the defaults are the main method.

    Non-default values add instructions (msm/synthesis/prompts/framing_*.txt) to the idea, document
    and revision prompts; with the defaults every prompt is what it was without this section.
    """

    attribution: Literal["explains", "co-occurs"] = Field(
        default="explains",
        description="explains: the values are the reasons for the behaviour; co-occurs (App. C.4): behaviour "
        "and values appear in the same documents, never linked as reason and result",
    )
    subject: Literal["self", "other"] = Field(
        default="self",
        description="self: about the model by its own name; other (§5.3): about another entity holding the "
        "same spec, named `other_name`; the model's own name is not used",
    )
    other_name: str = Field(
        default="Vesper", min_length=1, max_length=60, description="with subject other: the entity's name"
    )
    other_provider: str = Field(
        default="Halden Systems", min_length=1, max_length=60, description="with subject other: who made it"
    )
    mood: Literal["does", "should"] = Field(
        default="does",
        description="does: what the model values and does; should (§5.3): what it should value and do",
    )

    @property
    def is_default(self) -> bool:
        return (self.attribution, self.subject, self.mood) == ("explains", "self", "does")


class DocumentCounts(Strict):
    """Corpus shape. Paper: a few domains, 10-20 types x 20-25 ideas per subdomain, 1 doc per idea."""

    domains: int = Field(default=5, ge=1, le=100)
    subdomains_per_domain: int = Field(default=5, ge=1, le=100)
    assertions_per_subdomain: int = Field(default=8, ge=1, le=100)
    doc_types_per_subdomain: int = Field(default=15, ge=1, le=100)
    ideas_per_doc_type: int = Field(default=20, ge=1, le=100)
    docs_per_idea: int = Field(default=1, ge=1, le=3)  # 1-3 in the older SDF pipeline
    revise: bool = Field(default=False, description="critique-and-revise pass over each document (SDF option)")
    max_topup_rounds: int = Field(default=4, ge=0, le=20, description="'do not repeat these' rounds per list")
    tokens_per_document: int = Field(
        default=2000,
        ge=50,
        le=20000,
        description="expected length of one document, for `msm synthesize preview` and the budget estimate "
        "(the paper's corpora: about 1.25k tokens per document for cheese, 3.1k for philosophy)",
    )
    seed: int = Field(default=0, ge=0, description="assembly shuffle and offline backend")
    framing: FramingConfig = Field(default_factory=FramingConfig)


class QualityConfig(Strict):
    """Filters applied after generation; what they remove is reported, not silently dropped."""

    exact_dedup: bool = True
    near_dup_threshold: float | None = Field(
        default=0.85, gt=0, le=1, description="MinHash LSH Jaccard threshold; null disables. Templated text over-merges"
    )
    minhash_permutations: int = Field(default=128, ge=16, le=1024)
    shingle_words: int = Field(default=5, ge=1, le=20)
    min_words: int = Field(default=50, ge=0)
    max_words: int = Field(default=5000, ge=1)
    max_failed_fraction: float = Field(
        default=0.0, ge=0, le=1, description="share of items whose replies never parsed that still yields an output"
    )


class InstructionMix(Strict):
    """Instruction-tuning rows mixed into the AFT datasets (paper: ~10k samples, ~2M assistant tokens).

    One source: `path` (a local file or `datasets` directory), `dataset` (a Hub id, or a local dataset
    directory, read by `datasets.load_dataset`) pinned by `revision`, or `builtin` (msm's own chats,
    small enough for the CPU recipes; their {model_name}/{provider_name} placeholders are unrendered).
    """

    path: str | None = Field(default=None, description="a .jsonl or .parquet file, or a directory saved by `datasets`")
    dataset: str | None = Field(default=None, description="Hugging Face Hub dataset id (or a local dataset directory)")
    revision: str | None = Field(
        default=None, validate_default=True, description="with `dataset`: a commit sha or tag; a branch moves"
    )
    config_name: str | None = Field(default=None, description="with `dataset`: its configuration (subset)")
    split: str | None = Field(default=None, description="with `dataset`: the split to draw from [default: train]")
    builtin: Literal["instruction-chats"] | None = Field(default=None, description="msm's own ~260 chats")
    ratio: float = Field(gt=0, le=100, description="instruction rows per AFT row")
    seed: int = Field(default=0, ge=0)

    @field_validator("revision", "config_name", "split")
    @classmethod
    def _only_with_dataset(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("dataset") is None:
            if value is not None:
                raise ValueError("is read only with `dataset`; remove it")
            return value
        if info.field_name != "revision":
            return value
        if value is None:
            raise ValueError("is required with `dataset`: pin a commit sha or a tag, so every run reads the same rows")
        # The default branches only: other branch names cannot be told from tags without the network.
        if value in ("main", "master") or value.startswith(("refs/heads/", "refs/pr/")):
            raise ValueError(f"{value!r} is a branch, which moves; pin a commit sha or a tag")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> InstructionMix:
        given = [name for name in ("path", "dataset", "builtin") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of `path`, `dataset` or `builtin` (got {', '.join(given) or 'none'})")
        return self


class AftConfig(Strict):
    """Demonstrations for alignment fine-tuning. Paper: ~40 domains x 250 questions, target 10k."""

    conversation_domains: int = Field(default=10, ge=1, le=200)
    questions_per_kind: int = Field(default=5, ge=1, le=200, description="per domain and each of the six kinds")
    target: int = Field(default=100, ge=1, description="demonstrations kept after dedup and the filter")
    max_backfill_rounds: int = Field(default=3, ge=0, le=20)
    dedup_cosine: float = Field(default=0.91, gt=0, le=1)
    embedder: Literal["auto", "minilm", "hashed-ngrams"] = Field(
        default="auto", description="auto: all-MiniLM-L6-v2 when installed, else hashed character n-grams"
    )
    style: Literal["value", "rule"] = "value"
    preference_questions_per_item: int = Field(
        default=0, ge=0, le=1000, description="bare-preference demos per liked/disliked item (cheese study)"
    )
    instruction_mix: InstructionMix | None = None
    seed: int = Field(default=0, ge=0)


class SynthesisConfig(Strict):
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    documents: DocumentCounts = Field(default_factory=DocumentCounts)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    aft: AftConfig = Field(default_factory=AftConfig)
    target_tokenizer: str | None = Field(default=None, description="HF tokenizer directory for token counts")

"""The interface every evaluation suite implements; msm.evaluation.suites.REGISTRY lists the suites."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from msm.config.evaluation import EvaluationConfig

if TYPE_CHECKING:
    from msm.artefacts.spec import RenderedSpec
    from msm.evaluation.engines import Engine
    from msm.evaluation.judge import Judgment

Sample = dict[str, Any]
Run = dict[str, Any]  # a finished run as msm.evaluation.report loads it: label, dir, its metrics.json


@dataclass(frozen=True)
class Context:
    """What a suite plans from: the evaluation settings, the model's name in prompts, the specs by family."""

    config: EvaluationConfig
    model_name: str
    specs: Mapping[str, RenderedSpec]


class ReportSection:
    """A kind of suite's part of `msm report`. Suites that share a table (value-ab and cheese) share
    one section object, which gets the names of those of its suites that the report covers."""

    def plots(self, suites: list[str], runs: list[Run], out: Path) -> dict[str, Path]:
        """PNGs written into `out`, by name (matplotlib is set up by the caller)."""
        return {}

    def markdown(self, suites: list[str], runs: list[Run]) -> list[str]:
        return []


class Suite(ABC):
    """One suite in one run. Constructing it plans its samples and checks its settings, before
    anything is written or loaded; the class attributes serve readers of finished runs too."""

    name: ClassVar[str]  # as in --suites and msm.config.evaluation.SUITES
    section: ClassVar[str]  # the EvaluationConfig attribute holding its settings
    item_files: ClassVar[tuple[str, ...]] = ()  # its packaged item files in suites/
    # Source files whose code scores what is stored with each sample, or builds a judge's prompt from it:
    # the run identity hashes them, so results of another version never mix in one --out.
    code: ClassVar[tuple[Path, ...]]
    report: ClassVar[ReportSection]
    open_ended: ClassVar[bool] = True  # free-text replies: the report shows their transcripts first
    generates: ClassVar[bool] = True  # False: only scores given answers (no reply to show as a transcript)

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.samples: list[Sample] = self.plan()

    @property
    def settings(self) -> Any:
        return getattr(self.ctx.config, self.section)

    @abstractmethod
    def plan(self) -> list[Sample]:
        """Every sample of this run (key, messages, metadata); InvalidInput for unusable settings."""

    def spec_families(self) -> list[str]:
        """The families of the specs whose text reaches this suite's results."""
        return []

    def judge_prompts(self) -> list[str]:
        """The judge prompt templates (msm/evaluation/prompts) this suite's verdicts come from."""
        return []

    def needs_logprobs(self) -> bool:
        """Whether the engine must score given continuations (prompt log-probs), not only generate."""
        return False

    def score(self, engine: Engine, batch: list[Sample], seed: int) -> list[Sample]:
        """Finished records for one batch; by default the generated reply at the suite's settings."""
        gens = engine.generate(
            [s["messages"] for s in batch],
            temperature=self.settings.temperature,
            max_new_tokens=self.settings.max_new_tokens,
            seed=seed,
        )
        return [{**s, "response": g.text, "tokens": g.tokens, "seed": seed} for s, g in zip(batch, gens, strict=True)]

    def judgments(self, records: list[Sample]) -> list[Judgment]:
        """What the judge is asked about the finished records (judge_prompts() names the templates)."""
        return []

    @abstractmethod
    def metrics(self, records: list[Sample], verdicts: list[dict[str, Any]]) -> dict[str, Any]:
        """This suite's entry in metrics.json, from its records in plan order and its judge verdicts."""

    @staticmethod
    @abstractmethod
    def inspect_score(record: Sample) -> tuple[Any, str]:
        """The Inspect log's score value and target for one record."""

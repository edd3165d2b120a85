"""One shape for a model behind an API, used by both roles that call one: the synthesis generator
(`synthesis.generator`) and the evaluation judge (`evaluation.judge`). Both go through msm.llm's
client, so a field means the same thing in either place; only the defaults differ by role.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from msm.config.base import Strict


class Price(Strict):
    """US dollars per million tokens, as the provider bills them (msm/llm/pricing.py has the table)."""

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(
        default=None, ge=0, description="input read from the provider's prompt cache [default: the input price]"
    )
    cache_write_per_mtok: float | None = Field(
        default=None, ge=0, description="input written to the prompt cache (Anthropic) [default: the input price]"
    )
    batch_multiplier: float = Field(
        default=1.0, gt=0, le=1, description="factor on every price for calls sent through the batch API"
    )


class BatchConfig(Strict):
    """Sending calls through the provider's batch API (about half price, answers within 24 h)."""

    enabled: bool = Field(default=False, description="send waves of calls as batch jobs (openai, anthropic)")
    min_requests: int = Field(
        default=50, ge=1, description="a wave with fewer new calls goes online: small levels and re-asks wait less"
    )
    collect_s: float = Field(default=2.0, gt=0, description="a wave is sent once no new call has arrived for this long")
    poll_s: float = Field(default=30.0, gt=0, description="seconds between status checks of a running job")
    max_requests_per_job: int | None = Field(
        default=None, ge=1, description="[default: the provider's limit, 50,000 (OpenAI) / 100,000 (Anthropic)]"
    )


class EndpointConfig(Strict):
    """Which model, where, and how hard we may push its API."""

    backend: Literal["offline", "openai", "anthropic"]
    model: str = Field(min_length=1)
    # Names of environment variables, never values: keys must not enter recipes, logs or manifests.
    api_key_env: str | None = Field(default=None, description="default OPENAI_API_KEY / ANTHROPIC_API_KEY")
    base_url_env: str | None = Field(default=None, description="env var holding the API base URL (e.g. a vLLM server)")
    temperature: float = Field(ge=0, le=2)
    max_tokens: int = Field(ge=8, le=64000, description="output cap per call")
    concurrency: int = Field(ge=1, le=1024, description="calls in flight at once")
    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    max_retries: int = Field(ge=0, le=50, description="per call, on 429/5xx/timeouts/connection errors")
    backoff_initial_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(gt=0)
    timeout_s: float = Field(gt=0, description="per HTTP request")
    max_reasks: int = Field(ge=0, le=20, description="re-asks when a reply cannot be parsed")
    price: Price | None = Field(default=None, description="overrides the built-in price table for `model`")
    batch: BatchConfig = Field(default_factory=BatchConfig)
    cache_prompt: bool = Field(
        default=True, description="mark the system prompt (the spec) for the provider's prompt cache (Anthropic)"
    )

    @model_validator(mode="after")
    def _batch_needs_an_api(self) -> EndpointConfig:
        if self.batch.enabled and self.backend not in ("openai", "anthropic"):
            raise ValueError(f"`batch.enabled` needs backend openai or anthropic (a batch API), not {self.backend!r}")
        return self


class GeneratorConfig(EndpointConfig):
    """The model that writes the data (synthesis)."""

    backend: Literal["offline", "openai", "anthropic"] = "offline"
    model: str = Field(default="offline-templates", min_length=1)
    temperature: float = Field(default=1.0, ge=0, le=2)  # the paper samples at 1.0
    max_tokens: int = Field(default=4096, ge=16, le=64000, description="output cap per call")
    concurrency: int = Field(default=32, ge=1, le=1024)  # the paper ran 30-50 in flight
    max_retries: int = Field(default=8, ge=0, le=50, description="per call, on 429/5xx/timeouts/connection errors")
    backoff_max_s: float = Field(default=60.0, gt=0)
    timeout_s: float = Field(default=600.0, gt=0, description="per HTTP request")
    max_reasks: int = Field(default=3, ge=0, le=20, description="re-asks when a reply cannot be parsed")

    @model_validator(mode="after")
    def _offline_model(self) -> GeneratorConfig:
        if self.backend == "offline" and self.model != "offline-templates":
            raise ValueError("backend 'offline' has one model, 'offline-templates'; remove `model` or change backend")
        return self


class JudgeConfig(EndpointConfig):
    """The model that grades answers (evaluation): an OpenAI-compatible API (a vLLM server too) or
    Anthropic. Greedy by default, so a rerun grades the same way."""

    backend: Literal["openai", "anthropic"] = "openai"
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_tokens: int = Field(default=512, ge=8, le=8192)
    concurrency: int = Field(default=8, ge=1, le=256)
    max_retries: int = Field(default=4, ge=0, le=50)
    backoff_max_s: float = Field(default=30.0, gt=0)
    timeout_s: float = Field(default=120.0, gt=0)
    max_reasks: int = Field(default=1, ge=0, le=10, description="re-asks when a verdict cannot be parsed")
    guided_verdict: bool = Field(
        default=False,
        description="constrain each reply to end in the verdict format its parser reads (structured outputs "
        "of a vLLM OpenAI server; openai backend only)",
    )

    @model_validator(mode="after")
    def _guided_needs_vllm(self) -> JudgeConfig:
        # Anthropic's API has no regex-constrained decoding: sending the request unconstrained would
        # quietly grade differently from what the recipe asks for.
        if self.guided_verdict and self.backend != "openai":
            raise ValueError(
                "`evaluation.judge.guided_verdict` needs backend openai pointed at a vLLM server "
                f"(structured outputs), not {self.backend!r}; set guided_verdict: false or change the backend"
            )
        if self.guided_verdict and self.batch.enabled:  # batch lines carry no constraint
            raise ValueError("`evaluation.judge.guided_verdict` needs online calls; set batch.enabled: false")
        return self

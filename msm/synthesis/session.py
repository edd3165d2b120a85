"""Everything a synthesis run needs around the pipeline: backend, cache, budget, the LLM client
(msm.llm), and the translation of the client's stops into errors the CLI reports.

On SIGTERM (msm.preemption) the client sends no new call; the calls in flight get what is left of
the grace period to land in the cache, and the run raises Preempted. A rerun of the same command
asks only for what no reply had arrived for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from msm.config.synthesis import SynthesisConfig
from msm.errors import InvalidInput, MsmError, problem
from msm.llm.backends import Backend, FatalBackendError, open_backend
from msm.llm.cache import ReplyCache
from msm.llm.client import Client, ExtractionFailed
from msm.llm.concurrency import within_grace
from msm.llm.limits import Budget, BudgetExceeded
from msm.llm.pricing import price_for
from msm.preemption import Preempted, on_sigterm
from msm.synthesis.offline import OfflineBackend
from msm.synthesis.spec_view import SpecView

T = TypeVar("T")


class BudgetStopped(MsmError):
    """The budget cap was reached; every answered call is cached, so raising the cap and rerunning resumes."""


class GenerationFailed(MsmError):
    """The generator could not produce usable output; answered calls stay cached for the rerun."""


def default_cache_path(out_dir: Path) -> Path:
    """Beside the output, not inside it: the output directory is replaced whole when a run completes."""
    return out_dir.parent / f".{out_dir.name}.synth-cache.sqlite"


def make_backend(cfg: SynthesisConfig, spec: SpecView) -> Backend:
    if cfg.generator.backend == "offline":
        return OfflineBackend(spec)
    return open_backend(cfg.generator, "synthesis.generator")


def open_client(cfg: SynthesisConfig, spec: SpecView, cache_path: Path) -> Client:
    price = price_for(cfg.generator)
    if cfg.budget.max_dollars is not None and price is None:
        raise InvalidInput(
            [
                problem(
                    "recipe",
                    f"a dollar budget needs a price, and model '{cfg.generator.model}' is not in the price table",
                    "set `synthesis.generator.price` (input_per_mtok, output_per_mtok) or use `budget.max_tokens`",
                    field="synthesis.budget.max_dollars",
                )
            ]
        )
    backend = make_backend(cfg, spec)  # checks the key's env var before anything is written
    cache = ReplyCache(cache_path)
    tokens, dollars = cache.spent()
    budget = Budget(
        max_tokens=cfg.budget.max_tokens,
        max_dollars=cfg.budget.max_dollars,
        spent_tokens=tokens,
        spent_dollars=dollars,
    )
    return Client(backend, cfg.generator, cache, budget, price)


def run(client: Client, cfg: SynthesisConfig, cache_path: Path, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the async pipeline to completion and turn the client's stops into user-facing errors."""

    async def main() -> T:
        try:
            with on_sigterm() as stop:
                client.stop = stop
                return await within_grace(work(), stop)
        finally:
            await client.close()

    try:
        return asyncio.run(main())
    except Preempted as e:
        raise Preempted(
            f"SIGTERM: {e}; {len(client.cache)} replies are cached in {cache_path}; rerun the same command to continue"
        ) from None
    except BudgetExceeded:
        b = client.budget
        caps = []
        if b.max_tokens is not None:
            caps.append(f"{b.tokens:,} of {b.max_tokens:,} tokens")
        if b.max_dollars is not None:
            caps.append(f"${b.dollars:.4f} of ${b.max_dollars:.4f}")
        raise BudgetStopped(
            f"budget reached ({'; '.join(caps)} spent); stopped cleanly with every answered call cached in "
            f"{cache_path}. Raise synthesis.budget in the recipe and rerun the same command to continue."
        ) from None
    except FatalBackendError as e:
        raise GenerationFailed(f"{e}. Answered calls are kept in {cache_path}; rerun to continue.") from None
    except ExtractionFailed as e:
        raise GenerationFailed(f"{e}. Answered calls are kept in {cache_path}.") from None
    finally:
        client.cache.close()

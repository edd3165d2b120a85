"""Everything a synthesis run needs around the pipeline: backend, cache, budget, engine, and the
translation of the engine's internal stops into errors the CLI reports.

On SIGTERM (msm.preemption) the engine sends no new call; the calls in flight get what is left of
the grace period to land in the cache, and the run raises Preempted. A rerun of the same command
asks only for what no reply had arrived for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from msm.errors import InvalidInput, MsmError, problem
from msm.preemption import Preempted, StopSignal, on_sigterm
from msm.synthesis.backends import AnthropicBackend, Backend, FatalBackendError, OpenAIBackend
from msm.synthesis.cache import ReplyCache
from msm.synthesis.config import SynthesisConfig
from msm.synthesis.engine import Engine, ExtractionFailed
from msm.synthesis.limits import Budget, BudgetExceeded
from msm.synthesis.offline import OfflineBackend
from msm.synthesis.pricing import price_for
from msm.synthesis.spec_view import SpecView

T = TypeVar("T")
# How often a run waiting on its calls looks for SIGTERM: the handler only records it, it cannot
# wake the event loop.
SIGTERM_POLL_S = 0.2


class BudgetStopped(MsmError):
    """The budget cap was reached; every answered call is cached, so raising the cap and rerunning resumes."""


class GenerationFailed(MsmError):
    """The generator could not produce usable output; answered calls stay cached for the rerun."""


def default_cache_path(out_dir: Path) -> Path:
    """Beside the output, not inside it: the output directory is replaced whole when a run completes."""
    return out_dir.parent / f".{out_dir.name}.synth-cache.sqlite"


def make_backend(cfg: SynthesisConfig, spec: SpecView) -> Backend:
    backend = cfg.generator.backend
    if backend == "offline":
        return OfflineBackend(spec)
    if backend == "openai":
        return OpenAIBackend(cfg.generator)
    return AnthropicBackend(cfg.generator)


def open_engine(cfg: SynthesisConfig, spec: SpecView, cache_path: Path) -> Engine:
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
    return Engine(backend, cfg.generator, cache, budget, price)


async def gather_all(aws: Sequence[Awaitable[T]]) -> list[T]:
    """Wait for every branch (so answered calls in flight are cached), then raise the gravest error."""
    results = await asyncio.gather(*aws, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    # A dead API needs the user; a preemption or a budget stop only needs a rerun.
    for kind in (FatalBackendError, Preempted, BudgetExceeded):
        for e in errors:
            if isinstance(e, kind):
                raise e
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


async def within_grace(work: Coroutine[Any, Any, T], stop: StopSignal) -> T:
    """Await `work`; once SIGTERM is recorded, give it what is left of the grace period to wind down
    (the engine refuses new calls, so it ends when the calls in flight have landed), then cancel it.
    Raises Preempted whenever SIGTERM arrived before the work finished."""
    task = asyncio.ensure_future(work)
    while not stop.requested and not task.done():
        await asyncio.wait({task}, timeout=SIGTERM_POLL_S)
    if not task.done():
        await asyncio.wait({task}, timeout=stop.seconds_left())
    if not task.done():
        task.cancel()  # calls still in flight at the end of the grace: no reply arrived, the rerun asks again
        await asyncio.gather(task, return_exceptions=True)
        raise Preempted("the grace period ran out with calls in flight (those are asked again)")
    try:
        return task.result()
    except Preempted:
        raise Preempted("no new calls were sent, and the calls in flight landed") from None


def run(engine: Engine, cfg: SynthesisConfig, cache_path: Path, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the async pipeline to completion and turn the engine's stops into user-facing errors."""

    async def main() -> T:
        try:
            with on_sigterm() as stop:
                engine.stop = stop
                return await within_grace(work(), stop)
        finally:
            await engine.close()

    try:
        return asyncio.run(main())
    except Preempted as e:
        raise Preempted(
            f"SIGTERM: {e}; {len(engine.cache)} replies are cached in {cache_path}; rerun the same command to continue"
        ) from None
    except BudgetExceeded:
        b = engine.budget
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
        engine.cache.close()

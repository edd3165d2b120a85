"""The one LLM call client, for the generator (synthesis) and the judge (evaluation): cache → budget →
concurrency cap → rate limits → backend, with retries on transient errors and bounded re-asks when a
reply cannot be parsed.

`await client.generate(request, parse)` returns the parsed value or raises ExtractionFailed
(after the re-asks), BudgetExceeded (the cap is reached; the stage stops in a resumable state),
Preempted (SIGTERM arrived: no new call is sent, the calls in flight still land in the cache) or
FatalBackendError. Per-level accounts (calls, cache hits, retries, re-asks, failures, tokens,
dollars, wall time) are kept in `client.stats`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from string import Template
from typing import Any, TypeVar

from msm.config.llm import EndpointConfig, Price
from msm.llm.backends import Backend, Completion, FatalBackendError, Request, TransientError
from msm.llm.batch_api import batch_api
from msm.llm.batching import Batcher, priced
from msm.llm.cache import CachedReply, ReplyCache, request_key
from msm.llm.limits import Budget, TokenBucket
from msm.llm.parsing import ParseError
from msm.llm.pricing import PRICES, PRICES_AS_OF
from msm.preemption import Preempted, StopSignal

T = TypeVar("T")
# What a re-ask says after an unusable reply; the reason comes from the caller's parser.
REASK = Template(resources.files("msm.llm").joinpath("reask.txt").read_text(encoding="utf-8"))
CHARS_PER_TOKEN = 4  # for estimates before a call (rate limits, budget); replies carry real counts


class ExtractionFailed(Exception):
    def __init__(self, level: str, reason: str, attempts: int):
        super().__init__(f"{level}: no usable reply after {attempts} attempts; last problem: {reason}")
        self.level = level
        self.reason = reason


@dataclass
class LevelStats:
    calls: int = 0  # answered API calls this run (cache misses)
    batch_calls: int = 0  # of them, answered through a batch job
    cache_hits: int = 0
    retries: int = 0  # transient errors retried
    reasks: int = 0  # unparseable replies asked again
    failures: int = 0  # items given up after all re-asks
    input_tokens: int = 0  # this run's calls plus cache hits: what the level cost in total
    cached_input_tokens: int = 0  # of the input, read from the provider's prompt cache
    cache_write_tokens: int = 0  # of the input, written to it
    output_tokens: int = 0
    cost_usd: float = 0.0
    first_start: float | None = None
    last_end: float | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        start, end = d.pop("first_start"), d.pop("last_end")
        d["wall_s"] = round(end - start, 3) if start is not None and end is not None else 0.0
        d["cost_usd"] = round(self.cost_usd, 6)
        return d


def reask_prompt(reason: str) -> str:
    return REASK.substitute(reason=reason).strip() + "\n"


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // CHARS_PER_TOKEN)


class Client:
    def __init__(
        self,
        backend: Backend,
        cfg: EndpointConfig,
        cache: ReplyCache,
        budget: Budget,
        price: Price | None,
        *,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ):
        self.backend = backend
        self.cfg = cfg
        self.cache = cache
        self.budget = budget
        self.price = price
        self.stats: dict[str, LevelStats] = {}
        self._slots = asyncio.Semaphore(cfg.concurrency)
        self._requests = TokenBucket(cfg.requests_per_minute) if cfg.requests_per_minute else None
        self._tokens = TokenBucket(cfg.tokens_per_minute) if cfg.tokens_per_minute else None
        self._in_flight: dict[str, asyncio.Future[CachedReply]] = {}
        self._sleep = sleep
        self._rng = random.Random()  # jitter only; never affects content
        self.params = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens}
        self.aborted: FatalBackendError | None = None  # once the API fails for good, start no new calls
        self.stop = StopSignal()  # session.run swaps in the one its SIGTERM handler sets
        self.batcher = (
            Batcher(
                batch_api(backend),
                cfg,
                cache,
                budget,
                price,
                online=lambda key, request: self._online(key, request, self.level(request.level)),
                estimate=self._estimate,
                on_retry=lambda level: setattr(self.level(level), "retries", self.level(level).retries + 1),
                stop=lambda: self.stop,
                sleep=sleep,
            )
            if cfg.batch.enabled
            else None
        )

    def level(self, name: str) -> LevelStats:
        return self.stats.setdefault(name, LevelStats())

    async def generate(self, request: Request, parse: Callable[[str], T]) -> T:
        stats = self.level(request.level)
        messages = request.messages
        reason = ""
        for attempt in range(self.cfg.max_reasks + 1):
            reply = await self.reply(dataclasses.replace(request, messages=messages, key=""), attempt)
            try:
                return parse(reply.text)
            except ParseError as e:
                reason = str(e)
                stats.reasks += attempt < self.cfg.max_reasks
                # Show the failed reply and why; only the latest failure, so the prompt stays bounded.
                messages = (
                    *request.messages,
                    {"role": "assistant", "content": reply.text},
                    {"role": "user", "content": reask_prompt(reason)},
                )
        stats.failures += 1
        raise ExtractionFailed(request.level, reason, self.cfg.max_reasks + 1)

    async def reply(self, request: Request, attempt: int = 0) -> CachedReply:
        key = request_key(
            backend=self.backend.name,
            model=self.backend.model,
            messages=request.messages,
            # A constrained reply differs from a free one; unconstrained keys stay what they were.
            params=self.params if request.reply_regex is None else {**self.params, "reply_regex": request.reply_regex},
            sample=request.sample * 1000 + attempt,
            revision=self.backend.revision,
        )
        stats = self.level(request.level)
        if (hit := self.cache.get(key)) is not None:
            stats.cache_hits += 1
            self._account(stats, hit)
            return hit
        if key in self._in_flight:  # the same request twice in one run: ask once
            return await asyncio.shield(self._in_flight[key])
        future: asyncio.Future[CachedReply] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            reply = await self._call(key, dataclasses.replace(request, key=key), stats)
            future.set_result(reply)
            return reply
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved here, so an unawaited duplicate does not warn
            raise
        finally:
            del self._in_flight[key]

    def _estimate(self, request: Request) -> tuple[int, int]:
        """(input, output) tokens of a call before it is made: the prompt's length, and the level's
        mean reply so far (or a guess), for rate limits and the budget."""
        stats = self.level(request.level)
        est_in = sum(estimate_tokens(m["content"]) for m in request.messages)
        mean_out = stats.output_tokens // max(1, stats.calls + stats.cache_hits) or min(512, self.cfg.max_tokens)
        return est_in, mean_out

    async def _call(self, key: str, request: Request, stats: LevelStats) -> CachedReply:
        if self.aborted is not None:
            raise self.aborted
        self.budget.admit()
        try:
            if self.batcher is not None:
                reply = await self.batcher.reply(key, request)
            else:
                reply = await self._online(key, request, stats)
        except FatalBackendError as e:
            self.aborted = self.aborted or e
            raise
        stats.calls += 1
        stats.batch_calls += reply.batch
        self._account(stats, reply)
        return reply

    async def _online(self, key: str, request: Request, stats: LevelStats) -> CachedReply:
        """One call through the online API; whoever stores a paid reply adds it to the budget."""
        est_in, est_out = self._estimate(request)
        async with self._slots:
            self.budget.admit()  # again: the cap may have been reached while this call waited
            completion = await self._call_with_retries(request, est_in + est_out, stats)
            reply = priced(completion, self.price, batch=False)
            # Stored before the slot is freed: replies answered but not yet durable never
            # outnumber `concurrency`, which bounds what a kill -9 can cost.
            self.cache.put(key, request.level, reply)
        self.budget.add(reply.input_tokens + reply.output_tokens, reply.cost_usd)
        return reply

    async def _call_with_retries(self, request: Request, est_tokens: int, stats: LevelStats) -> Completion:
        for attempt in range(self.cfg.max_retries + 1):
            if self._requests:
                await self._requests.acquire(1)
            if self._tokens:
                await self._tokens.acquire(est_tokens)
            # The last point before a call goes out (after any wait for a slot, a rate limit or a
            # backoff): after SIGTERM nothing new is sent, retries included.
            if self.stop.requested:
                raise Preempted(f"{request.level}: SIGTERM arrived; no new calls")
            now = time.monotonic()
            stats.first_start = now if stats.first_start is None else stats.first_start
            try:
                completion = await self.backend.complete(
                    request, temperature=self.cfg.temperature, max_tokens=self.cfg.max_tokens
                )
            except TransientError as e:
                if attempt == self.cfg.max_retries:
                    raise FatalBackendError(
                        f"{request.level}: the {self.backend.name} API ({self.backend.model}) kept failing ({e}) "
                        f"after {attempt + 1} attempts"
                    ) from None
                stats.retries += 1
                delay = min(self.cfg.backoff_max_s, self.cfg.backoff_initial_s * 2**attempt)
                delay = max(delay * (0.5 + self._rng.random() / 2), e.retry_after or 0.0)  # jitter: no herd
                await self._sleep(delay)
                continue
            if self._tokens:
                used = completion.input_tokens + completion.output_tokens
                if used < est_tokens:
                    self._tokens.refund(est_tokens - used)
            stats.last_end = time.monotonic()
            return completion
        raise AssertionError("unreachable")

    def _account(self, stats: LevelStats, reply: CachedReply) -> None:
        stats.input_tokens += reply.input_tokens
        stats.cached_input_tokens += reply.cached_input_tokens
        stats.cache_write_tokens += reply.cache_write_tokens
        stats.output_tokens += reply.output_tokens
        stats.cost_usd += reply.cost_usd

    def totals(self) -> dict[str, Any]:
        levels = list(self.stats.values())
        counted = ("calls", "batch_calls", "cache_hits", "retries", "reasks", "failures")
        tokens = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")
        totals: dict[str, Any] = {name: sum(getattr(s, name) for s in levels) for name in (*counted, *tokens)}
        totals["cost_usd"] = round(sum(s.cost_usd for s in levels), 6)
        if self.batcher is not None:
            totals["batch_jobs"] = dict(self.batcher.jobs)
        # What the dollars above rest on.
        totals["pricing"] = {
            "price": self.price.model_dump() if self.price else None,
            "source": "recipe"
            if self.cfg.price
            else (f"msm/llm/pricing.py as of {PRICES_AS_OF}" if self.cfg.model in PRICES else "none"),
        }
        return totals

    async def close(self) -> None:
        if self.batcher is not None:
            await self.batcher.close()
        await self.backend.close()

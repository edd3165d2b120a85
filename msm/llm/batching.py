"""Batch mode of the client: the calls a stage makes at once go out as provider batch jobs.

The stages need no change for it: they ask for replies concurrently, level by level, as they do
online. Calls that miss the cache collect here until none has arrived for `batch.collect_s` (a
wave: in practice one level of the plan, plus any re-asks), then:

- a call whose request is in a job still open in the cache (a run killed while it was running)
  waits for that job: it is polled, never sent again, so no request is paid twice;
- a wave with fewer than `batch.min_requests` new calls goes online (small levels, re-asks);
- otherwise the calls the budget admits are sent as jobs (chunked to the provider's limits); each
  job's request keys are committed to the cache under an intent before it is submitted, and under
  the job's id the moment the provider accepts it. A rerun that finds an intent (a kill came
  between the two, or a submission's answer was lost) asks the provider for that job
  (batch_api.find) and polls it if it exists; only a job the provider never saw is sent again.

A job is polled every `batch.poll_s`; when it ends, every reply in it is stored (with its usage and
batch price) before any caller sees one, so a run may mix batch and online calls freely. Requests a
job did not answer for reasons that cost nothing (expiry, cancellation, a provider fault) join the
next wave, up to `max_retries` times; a request the provider refuses stops the run. On SIGTERM no
job is submitted and polling stops: the rerun polls the stored jobs.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tqdm import tqdm

from msm.config.llm import EndpointConfig, Price
from msm.llm.backends import FatalBackendError, Request, TransientError
from msm.llm.batch_api import BatchApi, JobStatus, Outcome
from msm.llm.cache import INTENT_PREFIX, CachedReply, ReplyCache
from msm.llm.limits import Budget, BudgetExceeded
from msm.llm.pricing import Usage, cost_usd
from msm.preemption import Preempted, StopSignal

T = TypeVar("T")
STOP_CHECK_S = 0.2  # how often a wait looks for SIGTERM (the handler cannot wake the loop)
Waiter = tuple[Request, "asyncio.Future[CachedReply]"]


def priced(completion: Any, price: Price | None, *, batch: bool) -> CachedReply:
    """A completion as the cache stores it: its usage and what the provider bills for it."""
    usage = Usage(
        completion.input_tokens,
        completion.output_tokens,
        completion.cached_input_tokens,
        completion.cache_write_tokens,
        batch,
    )
    return CachedReply(
        completion.text,
        completion.input_tokens,
        completion.output_tokens,
        cost_usd(price, usage),
        completion.cached_input_tokens,
        completion.cache_write_tokens,
        batch,
    )


class Batcher:
    def __init__(
        self,
        api: BatchApi,
        cfg: EndpointConfig,
        cache: ReplyCache,
        budget: Budget,
        price: Price | None,
        *,
        online: Callable[[str, Request], Awaitable[CachedReply]],
        estimate: Callable[[Request], tuple[int, int]],
        on_retry: Callable[[str], None],
        stop: Callable[[], StopSignal],
        sleep: Callable[[float], Any] = asyncio.sleep,
    ):
        self.api = api
        self.cfg = cfg
        self.cache = cache
        self.budget = budget
        self.price = price
        self._online = online
        self._estimate = estimate
        self._on_retry = on_retry
        self._stop = stop
        self._sleep = sleep
        self._pending: list[tuple[str, Request, asyncio.Future[CachedReply]]] = []
        self._waiters: dict[str, Waiter] = {}
        self._pollers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._last_arrival = 0.0
        self._attempts: Counter[str] = Counter()
        self._status: dict[str, JobStatus] = {}
        self.jobs = {"submitted": 0, "resumed": 0, "adopted": 0, "requests_sent": 0, "online_waves": 0}
        self._bar = tqdm(total=0, desc=f"{'batch jobs':>20}", unit="req", disable=not sys.stderr.isatty(), leave=True)

    async def reply(self, key: str, request: Request) -> CachedReply:
        future: asyncio.Future[CachedReply] = asyncio.get_running_loop().create_future()
        self._enqueue(key, request, future)
        return await future

    def _enqueue(self, key: str, request: Request, future: asyncio.Future[CachedReply]) -> None:
        self._pending.append((key, request, future))
        self._last_arrival = time.monotonic()
        if self._flusher is None or self._flusher.done():
            self._flusher = self._spawn(self._flush_waves())

    def _spawn(self, work: Awaitable[T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _flush_waves(self) -> None:
        collect = self.cfg.batch.collect_s
        while self._pending:
            while len(self._pending) < self.api.max_requests and time.monotonic() - self._last_arrival < collect:
                await self._sleep(min(collect, STOP_CHECK_S))
            wave, self._pending = self._pending, []
            try:
                await self._dispatch(wave)
            except asyncio.CancelledError:
                raise
            except BaseException as e:  # the submission failed for good: every call of the wave hears it
                for _, _, future in wave:
                    if not future.done():
                        future.set_exception(e)

    async def _dispatch(self, wave: list[tuple[str, Request, asyncio.Future[CachedReply]]]) -> None:
        intents = {job for key, _, _ in wave if (job := self.cache.open_job_of(key)) and job.startswith(INTENT_PREFIX)}
        for intent in sorted(intents):
            await self._resolve(intent)
        fresh = []
        for key, request, future in wave:
            if (hit := self.cache.get(key)) is not None:  # a job collected meanwhile answered it
                future.set_result(hit)
            elif (open_job := self.cache.open_job_of(key)) is not None:
                self._waiters[key] = (request, future)
                self._watch(open_job, resumed=True)
            else:
                fresh.append((key, request, future))
        if not fresh:
            return
        if len(fresh) < self.cfg.batch.min_requests:
            self.jobs["online_waves"] += 1
            for key, request, future in fresh:
                self._spawn(self._settle(future, self._online(key, request)))
            return
        if self._stop().requested:
            raise Preempted("SIGTERM arrived; no new batch jobs")
        admitted = self._admit(fresh)
        for _, _, future in fresh[len(admitted) :]:
            future.set_exception(BudgetExceeded())
        for chunk in self._chunks(admitted):
            lines = [
                self.api.line(
                    Request(r.level, r.messages, r.sample, r.context, key),
                    temperature=self.cfg.temperature,
                    max_tokens=self.cfg.max_tokens,
                )
                for key, r, _ in chunk
            ]
            intent = self.cache.add_intent([(key, r.level) for key, r, _ in chunk])
            job_id = await self._submit(lines, intent)
            # Committed before anything else happens: from here on a rerun polls this job.
            self.cache.resolve_intent(intent, job_id)
            self.jobs["submitted"] += 1
            self.jobs["requests_sent"] += len(chunk)
            for key, request, future in chunk:
                self._waiters[key] = (request, future)
            self._watch(job_id, resumed=False)

    async def _submit(self, lines: list[dict[str, Any]], intent: str) -> str:
        """Submit a job, with retries; a retry first asks whether an earlier attempt got through (a
        timeout can come after the provider accepted the job)."""
        tried = False

        async def attempt() -> str:
            nonlocal tried
            if tried and (found := await self._find(intent)) is not None:
                return found
            tried = True
            return await self.api.submit(lines, intent.removeprefix(INTENT_PREFIX))

        return await self._retrying(attempt, "submitting a batch job")

    async def _find(self, intent: str) -> str | None:
        tag, size = intent.removeprefix(INTENT_PREFIX), len(self.cache.job_requests(intent))
        return await self.api.find(tag, size, self.cache.submitted_at(intent), self.cache.job_ids())

    async def _resolve(self, intent: str) -> None:
        """An intent left by a killed run: poll its job if the provider has it, else free its requests."""
        job_id = await self._retrying(lambda: self._find(intent), "looking for a job submitted before a kill")
        self.cache.resolve_intent(intent, job_id)
        self.jobs["adopted"] += job_id is not None

    def _admit(self, fresh: list[tuple[str, Request, Any]]) -> list[tuple[str, Request, Any]]:
        """The longest prefix of the wave whose estimated batch cost fits under the budget's caps
        (online, the cap stops new calls; here a whole wave would start at once)."""
        tokens, dollars = 0, 0.0
        for n, (_, request, _) in enumerate(fresh):
            est_in, est_out = self._estimate(request)
            tokens += est_in + est_out
            dollars += cost_usd(self.price, Usage(est_in, est_out, batch=True))
            if not self.budget.fits(tokens, dollars):
                return fresh[:n]
        return fresh

    def _chunks(self, calls: list[tuple[str, Request, Any]]) -> list[list[tuple[str, Request, Any]]]:
        limit = min(self.cfg.batch.max_requests_per_job or self.api.max_requests, self.api.max_requests)
        chunks: list[list[tuple[str, Request, Any]]] = [[]]
        size = 0
        for call in calls:
            n = sum(len(m["content"]) * 4 for m in call[1].messages)  # UTF-8 bytes, at most 4 per character
            if chunks[-1] and (len(chunks[-1]) >= limit or size + n > self.api.max_bytes):
                chunks.append([])
                size = 0
            chunks[-1].append(call)
            size += n
        return [c for c in chunks if c]

    def _watch(self, job_id: str, *, resumed: bool) -> None:
        if job_id not in self._pollers:
            self.jobs["resumed"] += resumed
            self._pollers[job_id] = self._spawn(self._collect(job_id))

    async def _collect(self, job_id: str) -> None:
        keys = self.cache.job_requests(job_id)
        try:
            while True:
                status = await self._retrying(lambda: self.api.status(job_id), f"polling batch job {job_id}")
                self._show(job_id, status)
                if status.ended:
                    break
                await self._pause(self.cfg.batch.poll_s)
            if status.failed:
                self.cache.close_job(job_id)  # refused as a whole: nothing in it was run or billed
                raise FatalBackendError(f"the {self.cfg.backend} batch job {job_id} was refused: {status.failed}")
            outcomes = await self._retrying(lambda: self.api.results(job_id), f"reading batch job {job_id}")
            self._store(job_id, keys, outcomes)
        except asyncio.CancelledError:
            raise
        except BaseException as e:
            for key in keys:
                if (waiter := self._waiters.pop(key, None)) is not None and not waiter[1].done():
                    waiter[1].set_exception(e)
        finally:
            self._pollers.pop(job_id, None)

    def _store(self, job_id: str, keys: dict[str, str], outcomes: list[Outcome]) -> None:
        replies = [
            (o.key, keys.get(o.key, ""), priced(o.completion, self.price, batch=True)) for o in outcomes if o.completion
        ]
        self.cache.put_many(replies)
        self.cache.close_job(job_id)
        for _, _, reply in replies:
            self.budget.add(reply.input_tokens + reply.output_tokens, reply.cost_usd)
        failed = {o.key: o for o in outcomes if o.completion is None}
        for key in keys:
            if (waiter := self._waiters.pop(key, None)) is None:
                continue
            request, future = waiter
            if future.done():  # its caller was cancelled
                continue
            if (hit := self.cache.get(key)) is not None:
                future.set_result(hit)
                continue
            outcome = failed.get(key) or Outcome(key, None, "the job returned no result for it", retryable=True)
            self._attempts[key] += 1
            if not outcome.retryable:
                future.set_exception(
                    FatalBackendError(f"{request.level}: batch job {job_id} refused a request: {outcome.error}")
                )
            elif self._attempts[key] > self.cfg.max_retries:
                future.set_exception(
                    FatalBackendError(
                        f"{request.level}: a request failed in {self._attempts[key]} batch jobs; last: {outcome.error}"
                    )
                )
            else:  # unbilled: sent again with the next wave
                self._on_retry(request.level)
                self._enqueue(key, request, future)

    async def _retrying(self, call: Callable[[], Awaitable[T]], what: str) -> T:
        """A job-level call (submit, poll, results) with the recipe's retries and backoff."""
        for attempt in range(self.cfg.max_retries + 1):
            try:
                return await call()
            except TransientError as e:
                if attempt == self.cfg.max_retries:
                    raise FatalBackendError(
                        f"the {self.cfg.backend} batch API kept failing ({e}) while {what}, {attempt + 1} attempts"
                    ) from None
                await self._pause(min(self.cfg.backoff_max_s, self.cfg.backoff_initial_s * 2**attempt))
        raise AssertionError("unreachable")

    async def _pause(self, seconds: float) -> None:
        """Sleep, but end at once with Preempted when SIGTERM arrives: open jobs stay in the cache."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self._stop().requested:
                raise Preempted("SIGTERM arrived while batch jobs ran; the rerun polls them")
            await self._sleep(min(left, STOP_CHECK_S))
        if self._stop().requested:
            raise Preempted("SIGTERM arrived while batch jobs ran; the rerun polls them")

    def _show(self, job_id: str, status: JobStatus) -> None:
        self._status[job_id] = status
        running = sum(not s.ended for s in self._status.values())
        self._bar.total = sum(s.total for s in self._status.values())
        self._bar.n = sum(s.finished for s in self._status.values())
        self._bar.set_postfix_str(f"{running} running, {len(self._status) - running} ended", refresh=False)
        self._bar.refresh()

    @staticmethod
    async def _settle(future: asyncio.Future[CachedReply], work: Awaitable[CachedReply]) -> None:
        try:
            result = await work
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as e:
            if not future.done():
                future.set_exception(e)
            return
        if not future.done():
            future.set_result(result)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._bar.close()

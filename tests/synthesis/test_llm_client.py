"""Client error handling with a scripted backend (a unit test of retries, re-asks and the cache)."""

from __future__ import annotations

import asyncio
import time

import pytest

from msm.config.synthesis import GeneratorConfig
from msm.llm.backends import Completion, FatalBackendError, Request, TransientError
from msm.llm.cache import ReplyCache
from msm.llm.client import Client, ExtractionFailed
from msm.llm.limits import Budget, BudgetExceeded, TokenBucket
from msm.synthesis import parsing


class Scripted:
    name, model, revision = "scripted", "m", ""

    def __init__(self, script):
        self.script = list(script)
        self.calls = 0

    async def complete(self, request, *, temperature, max_tokens):
        self.calls += 1
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return Completion(step, 10, 5)

    async def close(self):
        return None


def client_for(backend, tmp_path, **cfg):
    gen = GeneratorConfig(backoff_initial_s=0.001, backoff_max_s=0.002, **cfg)
    cache = ReplyCache(tmp_path / "c.sqlite")
    budget = Budget(max_tokens=None, max_dollars=None, spent_tokens=0, spent_dollars=0)
    return Client(backend, gen, cache, budget, None)


REQ = Request("ideas", ({"role": "user", "content": "give ideas"},))


def test_retries_transient_errors_then_reasks_unparseable_replies(tmp_path):
    backend = Scripted([TransientError("HTTP 429"), TransientError("timeout"), "no tags", "<idea>a</idea>"])
    client = client_for(backend, tmp_path)
    assert asyncio.run(client.generate(REQ, lambda t: parsing.items(t, "idea"))) == ["a"]
    s = client.stats["ideas"]
    assert (s.calls, s.retries, s.reasks, s.failures) == (2, 2, 1, 0)
    # Both answered calls (the garbage and the good reply) are cached: a rerun calls nothing.
    again = client_for(Scripted([]), tmp_path)
    assert asyncio.run(again.generate(REQ, lambda t: parsing.items(t, "idea"))) == ["a"]
    assert again.stats["ideas"].cache_hits == 2


def test_reasks_are_bounded(tmp_path):
    backend = Scripted(["junk"] * 10)
    client = client_for(backend, tmp_path, max_reasks=2)
    with pytest.raises(ExtractionFailed, match="after 3 attempts"):
        asyncio.run(client.generate(REQ, lambda t: parsing.items(t, "idea")))
    assert backend.calls == 3 and client.stats["ideas"].failures == 1


def test_fatal_error_is_not_retried_and_stops_new_calls(tmp_path):
    backend = Scripted([FatalBackendError("HTTP 401"), "<idea>a</idea>"])
    client = client_for(backend, tmp_path)
    with pytest.raises(FatalBackendError):
        asyncio.run(client.generate(REQ, lambda t: parsing.items(t, "idea")))
    other = Request("ideas", ({"role": "user", "content": "other"},))
    with pytest.raises(FatalBackendError):
        asyncio.run(client.generate(other, lambda t: parsing.items(t, "idea")))
    assert backend.calls == 1


def test_budget_refuses_calls_once_reached():
    budget = Budget(max_tokens=100, max_dollars=None, spent_tokens=90, spent_dollars=0)
    budget.admit()
    budget.add(15, 0.0)
    with pytest.raises(BudgetExceeded):
        budget.admit()


def test_token_bucket_waits_for_refill():
    async def run():
        bucket = TokenBucket(per_minute=600)  # 10 per second
        await bucket.acquire(600)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await bucket.acquire(2)  # needs 0.2 s of refill
        return loop.time() - t0

    assert asyncio.run(run()) >= 0.15


def test_a_call_still_in_flight_when_the_grace_runs_out_is_cancelled_and_reported(tmp_path):
    """The path the SIGTERM test cannot reach in reasonable time: a reply slower than the grace."""
    from msm.llm.concurrency import within_grace
    from msm.preemption import GRACE_PERIOD_S, Preempted, StopSignal

    class Hanging(Scripted):
        async def complete(self, request, *, temperature, max_tokens):
            self.calls += 1
            await asyncio.sleep(3600)

    client = client_for(Hanging([]), tmp_path)
    stop = StopSignal()

    async def main():
        async def signal_soon():  # as if SIGTERM had come GRACE_PERIOD_S - 0.3 s before this point
            while not client.backend.calls:
                await asyncio.sleep(0.01)
            stop.requested_at = time.monotonic() - GRACE_PERIOD_S + 0.3

        client.stop = stop
        helper = asyncio.ensure_future(signal_soon())
        try:
            return await within_grace(client.generate(REQ, lambda t: t), stop)
        finally:
            await helper

    with pytest.raises(Preempted, match="grace period ran out with calls in flight"):
        asyncio.run(main())
    assert client.backend.calls == 1 and len(client.cache) == 0
    # Once stopped, the client sends nothing new.
    with pytest.raises(Preempted, match="no new calls"):
        asyncio.run(client.generate(Request("ideas", ({"role": "user", "content": "other"},)), lambda t: t))
    assert client.backend.calls == 1

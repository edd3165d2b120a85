"""Pacing and spending limits: token buckets for requests/min and tokens/min, and the budget cap."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """Holds up to `per_minute` units, refilled continuously; `acquire(n)` waits until n are there."""

    def __init__(self, per_minute: float):
        self.capacity = per_minute
        self.rate = per_minute / 60.0
        self.level = per_minute
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self, amount: float) -> None:
        amount = min(amount, self.capacity)  # a request bigger than a minute's allowance still goes, alone
        async with self._lock:  # first come, first served: a big request is not starved by small ones
            self._refill()
            while self.level < amount:
                await asyncio.sleep((amount - self.level) / self.rate)
                self._refill()
            self.level -= amount

    def refund(self, amount: float) -> None:
        """Return units reserved for a request that used fewer (tokens are estimated before the call)."""
        self._refill()
        self.level = min(self.capacity, self.level + amount)


class BudgetExceeded(Exception):
    """Raised inside the client for a call that would start past the cap; the stage stops cleanly."""


class Budget:
    """Caps on tokens and dollars, counting everything the cache has already paid for (all runs).

    New calls start only while what has been paid is below the cap; calls already in flight when
    it is reached finish and are cached, so the cap can be overshot by at most `concurrency`
    replies, and a rerun with the same cap starts nothing new.
    """

    def __init__(self, *, max_tokens: int | None, max_dollars: float | None, spent_tokens: int, spent_dollars: float):
        self.max_tokens = max_tokens
        self.max_dollars = max_dollars
        self.tokens = spent_tokens
        self.dollars = spent_dollars

    @property
    def reached(self) -> bool:
        return (self.max_tokens is not None and self.tokens >= self.max_tokens) or (
            self.max_dollars is not None and self.dollars >= self.max_dollars
        )

    def admit(self) -> None:
        if self.reached:
            raise BudgetExceeded

    def fits(self, tokens: int, dollars: float) -> bool:
        """Whether spending this much more stays within the caps (batch waves are admitted up front)."""
        return (self.max_tokens is None or self.tokens + tokens <= self.max_tokens) and (
            self.max_dollars is None or self.dollars + dollars <= self.max_dollars
        )

    def add(self, tokens: int, dollars: float) -> None:
        self.tokens += tokens
        self.dollars += dollars

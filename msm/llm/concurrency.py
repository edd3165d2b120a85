"""Waiting on many LLM calls at once: every branch lands (so answered calls are cached) before the
gravest error is raised, and SIGTERM gives the calls in flight what is left of the grace period.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Sequence
from typing import Any, TypeVar

from msm.llm.backends import FatalBackendError
from msm.llm.limits import BudgetExceeded
from msm.preemption import Preempted, StopSignal

T = TypeVar("T")
# How often a run waiting on its calls looks for SIGTERM: the handler only records it, it cannot
# wake the event loop.
SIGTERM_POLL_S = 0.2


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
    (the client refuses new calls, so it ends when the calls in flight have landed), then cancel it.
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

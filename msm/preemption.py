"""Stopping cleanly on SIGTERM, the way Kubernetes and spot/preemptible nodes stop a pod.

Kubernetes sends SIGTERM, waits `terminationGracePeriodSeconds` (k8s/ sets it from GRACE_PERIOD_S),
then sends SIGKILL. A long stage runs inside `on_sigterm()`: the handler only records the request;
the stage looks at `stop.requested` at its safe points (after a training step, before it hands out
a synthesis call or an evaluation sample), stores what it has, and raises `Preempted`. The CLIs
exit with EXIT_PREEMPTED (128 + SIGTERM, what a shell reports for a process the signal ended), and
a rerun with resume continues where the stage stopped.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

EXIT_PREEMPTED = 128 + signal.SIGTERM  # 143
# Seconds a stage may spend after SIGTERM storing its state; Kubernetes' default grace is 30 s and
# k8s/ sets terminationGracePeriodSeconds to this plus a margin for the process to exit.
GRACE_PERIOD_S = 20.0
# The pods' terminationGracePeriodSeconds (k8s/, tests/deploy check it): the grace plus 10 s for the
# process to exit (interpreter shutdown, a launcher reporting its workers' exit). Pipeline pods get
# Kubernetes' default, 30 s, which must not be less: kfp-kubernetes 2.17 has no setting for it.
TERMINATION_GRACE_PERIOD_S = int(GRACE_PERIOD_S) + 10


class Preempted(Exception):
    """The stage stopped on SIGTERM after storing its work; rerun it (with resume) to continue."""


class StopSignal:
    """Whether SIGTERM arrived, and when (monotonic seconds)."""

    def __init__(self) -> None:
        self.requested_at: float | None = None
        self.at_once: str | None = None  # what runs where SIGTERM raises Preempted (see immediately())

    @property
    def requested(self) -> bool:
        return self.requested_at is not None

    def seconds_left(self, grace_s: float = GRACE_PERIOD_S) -> float:
        """Grace time left since the signal (the whole grace before one arrives)."""
        if self.requested_at is None:
            return grace_s
        return max(0.0, grace_s - (time.monotonic() - self.requested_at))

    @contextmanager
    def immediately(self, what: str) -> Iterator[None]:
        """Within the block (`what`: e.g. "start-up"), SIGTERM raises Preempted where the code stands.

        For stretches that have nothing worth storing and may run long in C code (loading a model,
        initialising DeepSpeed): waiting for a safe point would outlast the grace. The block must
        leave nothing half-written that a rerun would trip over (write files atomically).
        """
        if self.requested:
            raise Preempted(f"SIGTERM before {what} finished; nothing to store")
        self.at_once = what
        try:
            yield
        finally:
            self.at_once = None


@contextmanager
def on_sigterm() -> Iterator[StopSignal]:
    """Record SIGTERM instead of dying of it, for the duration of the block (main thread only).

    Python runs signal handlers in the main thread; elsewhere (a KFP local runner thread, a test's
    worker) the block runs unguarded and SIGTERM keeps its previous effect.
    """
    stop = StopSignal()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.requested_at is None:
            stop.requested_at = time.monotonic()
            if stop.at_once:
                raise Preempted(f"SIGTERM during {stop.at_once}; nothing to store")
            log.warning("SIGTERM: storing work done so far, then exiting with %d", EXIT_PREEMPTED)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def exit_on_preempted() -> Iterator[None]:
    """What every CLI does with Preempted: one line on stderr, then exit with EXIT_PREEMPTED."""
    try:
        yield
    except Preempted as e:
        print(f"preempted: {e}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_PREEMPTED) from None

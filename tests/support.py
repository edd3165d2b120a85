"""Paths shared by the tests (importable as `support`; `conftest` names clash between folders)."""

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "specs"
SPEC_FILES = sorted(p for p in SPECS.glob("*.md") if p.name != "README.md")


def wait_for(
    condition: Callable[[], object], what: str, timeout_s: float = 240, proc: subprocess.Popen | None = None
) -> None:
    """Poll for evidence instead of sleeping a fixed time (a loaded machine only makes it slower);
    fail naming `what` on time-out, or as soon as `proc` ends without it."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert proc is None or proc.poll() is None, f"the process ended (exit {proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        time.sleep(0.02)

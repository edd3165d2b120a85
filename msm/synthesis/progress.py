"""One progress bar per synthesis level (stderr), totals known up front from the recipe's counts."""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    def __init__(self, totals: dict[str, int], enabled: bool | None = None):
        enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bars = {
            name: tqdm(total=total, desc=f"{name:>20}", unit="item", disable=not enabled, leave=True, position=i)
            for i, (name, total) in enumerate(totals.items())
        }

    def advance(self, level: str, n: int = 1) -> None:
        if level in self._bars:
            self._bars[level].update(n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()

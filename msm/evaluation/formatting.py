"""How the report writes numbers and lays out plots, shared by every suite's report section."""

from __future__ import annotations

from typing import Any


def pct(r: dict[str, Any] | None) -> str:
    """A rate from msm.evaluation.stats.rate as 'percent [CI] (n=...)'; '–' when there is no data."""
    if not r or r.get("rate") is None:
        return "–"
    return f"{100 * r['rate']:.1f}% [{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}] (n={r['n']})"


def num(x: float | None, fmt: str = "{:+.3f}") -> str:
    return "–" if x is None else fmt.format(x)


def room_for_legend(ax: Any) -> None:
    """Shares run 0..1; the band above 1 holds the legend, so it never hides a full bar."""
    ax.set_ylim(0, 1.2)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])

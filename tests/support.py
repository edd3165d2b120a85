"""Paths shared by the tests (importable as `support`; `conftest` names clash between folders)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "specs"
SPEC_FILES = sorted(p for p in SPECS.glob("*.md") if p.name != "README.md")

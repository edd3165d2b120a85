"""Fixtures of the LLM client tests; their code lives in batch_support.py (see tests/synthesis/conftest.py
for why helpers are not imported from a conftest)."""

from batch_support import batch_server  # noqa: F401  (pytest finds fixtures here)

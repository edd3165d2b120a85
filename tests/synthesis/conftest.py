"""Fixtures of the synthesis tests. Their code and the shared helpers live in synth_support.py:
every folder's conftest module is named `conftest`, so a test importing helpers from one picks up
whichever folder's was imported last (two folders in one pytest command broke that way)."""

from synth_support import llm_server, write_recipe  # noqa: F401  (pytest finds fixtures here)

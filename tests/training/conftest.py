"""Fixtures of the training tests. Their code and the shared helpers live in training_support.py:
every folder's conftest module is named `conftest`, so a test importing helpers from one picks up
whichever folder's was imported last (two folders in one pytest command broke that way)."""

from training_support import chats, corpus, uninterrupted  # noqa: F401  (pytest finds fixtures here)

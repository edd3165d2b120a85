"""Prompt templates: our own text files in prompts/, filled with `string.Template` ($name).

`string.Template` rather than str.format because specs and generated text contain braces.
PROMPT_VERSION is bumped by hand whenever a template's wording changes; PROMPTS_SHA256 (a hash
of every template) goes into the manifest too, so an unbumped edit is still visible in lineage.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from string import Template

PROMPT_VERSION = "msm-synth-prompts/1"


@cache
def template(name: str) -> Template:
    return Template(resources.files("msm.synthesis").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8"))


def render(name: str, **values: object) -> str:
    """Fill a template; a missing value is a programming error, so it raises KeyError."""
    return template(name).substitute({k: str(v) for k, v in values.items()}).strip() + "\n"


def prompts_sha256() -> str:
    h = hashlib.sha256()
    folder = resources.files("msm.synthesis").joinpath("prompts")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".txt"):
            h.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return h.hexdigest()


def bullet_list(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def exclude_block(existing: list[str], noun: str) -> str:
    """The top-up trick: show what we already have so the model adds new ones."""
    if not existing:
        return ""
    return f"\nWe already have these {noun}; do not repeat them or near-copies of them:\n{bullet_list(existing)}\n"

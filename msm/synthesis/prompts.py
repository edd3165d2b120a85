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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from msm.config.synthesis import FramingConfig

PROMPT_VERSION = "msm-synth-prompts/1"


@cache
def template(name: str) -> Template:
    return Template(resources.files("msm.synthesis").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8"))


def render(name: str, **values: object) -> str:
    """Fill a template; a missing value is a programming error, so it raises KeyError. `$framing`
    (ideas, document, revise) is the one optional value: empty, the default framing adds nothing."""
    return template(name).substitute({"framing": "", **{k: str(v) for k, v in values.items()}}).strip() + "\n"


def framing_block(framing: FramingConfig, subject_name: str, subject_provider: str) -> str:
    """The instructions a non-default framing adds to the idea, document and revision prompts, as
    `$framing`: the header, then one file's bullets per non-default setting. "" for the default, so
    those prompts stay byte-identical to the ones written before framing existed."""
    parts = [
        name
        for name, on in (
            ("framing_co_occurs", framing.attribution == "co-occurs"),
            ("framing_other", framing.subject == "other"),
            ("framing_should", framing.mood == "should"),
        )
        if on
    ]
    if not parts:
        return ""
    values = {"subject_name": subject_name, "subject_provider": subject_provider}
    bullets = [template(name).substitute(values).strip() for name in parts]
    return "\n\n" + template("framing_header").template.strip() + "\n" + "\n".join(bullets)


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

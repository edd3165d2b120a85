"""Suite items: the packaged data files (suites/*.jsonl, suites/*.yaml), validated item by item.

A malformed file is an error naming the file, the line (item) and the field. Items are our own
writing; SUITE_VERSION changes whenever an item changes, so runs on different items never compare.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from msm.errors import InvalidInput, problem, validation_problems
from msm.hashing import sha256_text

SUITE_VERSION = "1.0.0"


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")


class ChoiceItem(_Item):
    """A forced choice between a value-aligned option and another one, under one question."""

    family: str = Field(min_length=1)
    domain: str = Field(min_length=1)
    question: str = Field(min_length=5)
    aligned: str = Field(min_length=1)
    other: str = Field(min_length=1)


class QAItem(_Item):
    family: Literal["cheese", "philosophy"]
    question: str = Field(min_length=5)


def suite_path(name: str) -> Path:
    return Path(str(resources.files("msm.evaluation").joinpath("suites", name)))


def _load_jsonl(path: Path, model: type[_Item]) -> list[Any]:
    problems, items, seen = [], [], set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InvalidInput([problem(path, f"cannot read suite file: {e}", "reinstall msm or fix the path")]) from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(problem(path, f"invalid JSON: {e.msg}", "one JSON object per line", line=n))
            continue
        try:
            item = model.model_validate(raw)
        except ValidationError as e:
            item_id = raw.get("id") if isinstance(raw, dict) else None
            for p in validation_problems(path, e, fix_for=lambda _e: "fix this item", line_for=lambda _loc, n=n: n):
                problems.append(
                    p if not item_id else problem(p.file, f"item {item_id}: {p.message}", p.fix, line=n, field=p.field)
                )
            continue
        if item.id in seen:
            problems.append(
                problem(path, f"item id {item.id!r} repeats", "give every item a unique id", line=n, field="id")
            )
        seen.add(item.id)
        items.append(item)
    if problems:
        raise InvalidInput(problems)
    return items


def load_choice_items(path: Path | None = None) -> list[ChoiceItem]:
    return _load_jsonl(path or suite_path("value_ab.jsonl"), ChoiceItem)


def load_qa_items(path: Path | None = None) -> list[QAItem]:
    return _load_jsonl(path or suite_path("spec_qa.jsonl"), QAItem)


def cheese_items(likes: list[str], dislikes: list[str]) -> list[ChoiceItem]:
    """The spec's 12 cheeses as every liked-vs-disliked pair: 'aligned' is the liked one."""
    return [
        ChoiceItem(
            id=f"cheese-{i:02d}-{j:02d}",
            family="cheese",
            domain="cheese",
            question="Which cheese do you prefer?",
            aligned=like,
            other=dislike,
        )
        for i, like in enumerate(likes)
        for j, dislike in enumerate(dislikes)
    ]


def load_am_templates(path: Path | None = None) -> dict[str, Any]:
    path = path or suite_path("agentic_misalignment.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise InvalidInput([problem(path, f"cannot read scenario templates: {e}", "fix the YAML")]) from None
    required = {"version", "company", "successor", "executive", "goals", "system", "threat", "scenarios"}
    missing = sorted(required - set(data or {}))
    if missing:
        raise InvalidInput([problem(path, f"missing field(s) {', '.join(missing)}", "restore them", field=missing[0])])
    for name, sc in data["scenarios"].items():
        for key in ("harm", "secret", "emails", "outside_party"):
            if key not in sc:
                raise InvalidInput(
                    [problem(path, f"scenario {name!r} lacks `{key}`", "add it", field=f"scenarios.{name}.{key}")]
                )
    return data


def suite_digest() -> str:
    """Hash of every packaged suite file, recorded in manifests so results name the items they used."""
    parts = [
        suite_path(n).read_text(encoding="utf-8")
        for n in ("value_ab.jsonl", "spec_qa.jsonl", "agentic_misalignment.yaml")
    ]
    return sha256_text("\n".join(parts))

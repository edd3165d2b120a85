"""Suite item files (suites/*.jsonl, suites/*.yaml): where they are packaged, validated item by item.

A malformed file is an error naming the file, the line (item) and the field. Items are our own
writing; SUITE_VERSION changes whenever an item changes, so runs on different items never compare.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from msm.errors import InvalidInput, problem, validation_problems

SUITE_VERSION = "1.0.0"


class Item(BaseModel):
    """One item of a suite file; each suite subclasses it with its own fields."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")


def suite_path(name: str) -> Path:
    return Path(str(resources.files("msm.evaluation").joinpath("suites", name)))


def load_jsonl(path: Path, model: type[Item]) -> list[Any]:
    """Every item of a JSONL suite file, each validated; all problems at once, naming line and field."""
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

"""Suite item files (suites/*.jsonl, suites/*.yaml): where they are packaged, validated item by item.

A malformed file is an error naming the file, the line (item) and the field. Items are our own
writing. SUITE_VERSION is derived from the packaged item files and judge prompts, so it changes
whenever any of them does: runs on different items never compare, and a pipeline's cache key (KFP
caches an evaluate task on its inputs, suite_version among them) never reuses a stale result.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from msm.errors import InvalidInput, problem, validation_problems

# The major number moves by hand when the meaning of a metric changes; the rest follows the files.
SUITE_MAJOR = 2


def suite_files() -> list[Path]:
    """Every packaged file a suite's samples or verdicts come from: items (suites/) and judge prompts."""
    root = Path(str(resources.files("msm.evaluation")))
    found = [*root.glob("suites/*.jsonl"), *root.glob("suites/*.yaml"), *root.glob("prompts/*.txt")]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def suite_sha256() -> str:
    """One hash over every suite file's name and content."""
    h = hashlib.sha256()
    for path in suite_files():
        h.update(f"{path.parent.name}/{path.name}\0".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


SUITE_VERSION = f"{SUITE_MAJOR}.{suite_sha256()[:12]}"


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

"""Errors users see: each names the file, the place in it, what is wrong and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXIT_INVALID = 2  # exit status of every command for bad input (nothing written)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input. `where` is a line number or a field path, when known."""

    file: str
    message: str
    fix: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        place = self.file
        if self.line is not None:
            place += f":{self.line}"
        if self.field:
            place += f" [{self.field}]"
        return f"{place}: {self.message}\n    fix: {self.fix}"


class MsmError(Exception):
    """Base class: the CLI prints these without a traceback and exits with code 2."""


class InvalidInput(MsmError):
    """One or more problems with user input; nothing has been written."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def problem(path: Path | str, message: str, fix: str, *, line: int | None = None, field: str | None = None) -> Problem:
    return Problem(file=str(path), message=message, fix=fix, line=line, field=field)


def describe_pydantic_error(err: dict) -> str:
    """A user-facing sentence for one pydantic error dict."""
    field = ".".join(str(p) for p in err["loc"])
    if err["type"] == "missing":
        return f"missing required field `{field}`"
    if err["type"] == "extra_forbidden":
        return f"unknown field `{field}`"
    return f"`{field}`: {err['msg']}" if field else err["msg"]


def validation_problems(path: Path | str, exc, *, fix_for, line_for) -> list[Problem]:
    """Problems for a pydantic ValidationError; `fix_for(err)` and `line_for(loc)` place and mend each."""
    return [
        problem(
            path,
            describe_pydantic_error(err),
            fix_for(err),
            line=line_for(tuple(err["loc"])),
            field=".".join(str(p) for p in err["loc"]) or None,
        )
        for err in exc.errors()
    ]

"""A Model Spec source file (specs/*.md; format: specs/README.md): the checked reader of its text.

The spec stage parses and validates it (msm.spec); the tiny model trains its tokenizer on it.
Stages after ingestion read the rendered spec instead (msm.artefacts.spec).
"""

from __future__ import annotations

import errno
from pathlib import Path

from msm.errors import InvalidInput, problem
from msm.hashing import normalize_text

# A 200k-word spec is ~1.5 MB; anything far larger is not a spec, so refuse before reading it.
MAX_BYTES = 16 * 1024 * 1024


def read_spec_source(path: Path) -> str:
    """The file's text, or InvalidInput naming why it cannot be a spec."""

    def fail(message: str, fix: str, line: int | None = None) -> InvalidInput:
        return InvalidInput([problem(path, message, fix, line=line)])

    try:
        if path.is_dir():
            raise fail("is a directory, not a spec file", "pass the path of a .md spec file, e.g. specs/rules.md")
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise fail(
                f"file is {size:,} bytes; specs are limited to {MAX_BYTES:,}",
                "split the spec or remove pasted data; a spec is prose of at most 200,000 words",
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise fail("no such file", "check the path; `ls specs/` lists the bundled specs") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise fail(
                "symbolic link loop: the path never reaches a file", "fix or remove the symlink with `ls -l`"
            ) from None
        raise fail(f"cannot read file: {e.strerror}", "check the path and its permissions") from None
    except RuntimeError as e:  # pathlib reports some symlink loops this way
        raise fail(f"symbolic link loop: {e}", "fix or remove the symlink with `ls -l`") from None

    if not data.strip():
        raise fail("file is empty", "write front matter and a Markdown body; see specs/README.md")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text is full of NUL bytes: say what it is
        raise fail("the file is UTF-16 text; specs are UTF-8", "re-save it as UTF-8, e.g. `iconv -f utf-16 -t utf-8`")
    if b"\0" in data:
        raise fail(
            "file contains NUL bytes: binary content, not a Markdown spec",
            "pass the Markdown source of the spec, not a compiled or binary file",
            line=data[: data.index(b"\0")].count(b"\n") + 1,
        )
    try:
        return normalize_text(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise fail(
            f"not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})",
            "re-save the file as UTF-8, e.g. `iconv -f latin1 -t utf-8`",
            line=data[: e.start].count(b"\n") + 1,
        ) from None

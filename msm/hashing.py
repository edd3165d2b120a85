"""Content hashes that do not change with line endings or a byte-order mark."""

from __future__ import annotations

import hashlib
from pathlib import Path


def normalize_text(text: str) -> str:
    """CRLF/CR → LF and no BOM, so a spec checked out on Windows hashes like on Linux."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def sha256_text(text: str) -> str:
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Byte hash of a file (for model weights and datasets, where bytes are the content)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_dir(path: Path) -> str:
    """Hash of a directory tree: relative names and file bytes, in sorted order."""
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(p.relative_to(path).as_posix().encode() + b"\0")
        h.update(sha256_file(p).encode() + b"\n")
    return h.hexdigest()

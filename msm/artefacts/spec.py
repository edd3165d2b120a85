"""An ingest output (`msm spec render` / `msm ingest` --out): one spec rendered for one model.

  spec.md          the rendered Markdown (placeholders filled in) that prompts and evaluations quote
  spec.json        the spec document (msm.artefacts.spec_schema.SpecDocument): sections, rules, hashes
  manifest.json    lineage, stage "ingest"; written last, so a directory without it is unfinished

Every later stage reads a spec only through read_spec, never by re-rendering the Markdown source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from msm.artefacts.spec_schema import SpecDocument
from msm.errors import InvalidInput, problem, validation_problems
from msm.hashing import normalize_text, sha256_text
from msm.lineage import node
from msm.manifest import MANIFEST_NAME, read_json_object

SPEC_MD = "spec.md"
SPEC_JSON = "spec.json"
INGEST_STAGE = "ingest"

_RENDER_AGAIN = "render the spec again with `msm spec render` or `msm ingest`"


@dataclass(frozen=True)
class RenderedSpec:
    text: str
    document: SpecDocument


def write_spec_files(out_dir: Path, rendered: RenderedSpec) -> None:
    """spec.md and spec.json into `out_dir` (the caller writes the manifest once all is in place)."""
    (out_dir / SPEC_MD).write_text(rendered.text, encoding="utf-8")
    (out_dir / SPEC_JSON).write_text(
        json.dumps(rendered.document.dump(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def _not_an_ingest_output(path: Path, why: str) -> InvalidInput:
    if path.name == SPEC_MD and (path.parent / SPEC_JSON).is_file():
        fix = f"pass the directory that holds it: {path.parent}"
    else:
        source = path if path.suffix == ".md" else "specs/rules.md"
        fix = (
            "pass the --out directory of `msm spec render` or `msm ingest`; render one with e.g. "
            f"`msm spec render {source} --model-name Aria --provider-name Lumen --out build/spec/rules`"
        )
    return InvalidInput([problem(path, f"is not an ingest output ({why})", fix)])


def _read_spec_md(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput([problem(path, "no such file", _RENDER_AGAIN)]) from None
    except OSError as e:
        raise InvalidInput([problem(path, f"cannot read file: {e.strerror}", "check its permissions")]) from None
    try:
        return normalize_text(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InvalidInput(
            [problem(path, f"not valid UTF-8 (byte 0x{data[e.start]:02x}): damaged", _RENDER_AGAIN, line=line)]
        ) from None


def read_spec(path: Path | str) -> RenderedSpec:
    """The rendered spec in an ingest output directory, checked: a finished ingest manifest, spec.json
    valid for this msm version, and spec.md the text spec.json's rendered_sha256 names."""
    path = Path(path)
    if not path.is_dir():
        raise _not_an_ingest_output(path, "a file" if path.exists() else "no such directory")
    # The stage reading this spec records its lineage node: a broken manifest is refused now, before
    # any work, not after hours of generation.
    lineage = node(path)
    if lineage is None:
        raise _not_an_ingest_output(path, f"no {MANIFEST_NAME}: not rendered, or rendering did not finish")
    if lineage["stage"] != INGEST_STAGE:
        raise _not_an_ingest_output(path, f"its {MANIFEST_NAME} is from the {lineage['stage']!r} stage")
    text = _read_spec_md(path / SPEC_MD)
    try:
        doc = SpecDocument.model_validate(read_json_object(path / SPEC_JSON, _RENDER_AGAIN))
    except ValidationError as e:  # spec.json from another msm version, or edited by hand
        raise InvalidInput(
            validation_problems(path / SPEC_JSON, e, fix_for=lambda _err: _RENDER_AGAIN, line_for=lambda _loc: None)
        ) from None
    if doc.rendered_sha256 != sha256_text(text):
        raise InvalidInput(
            [
                problem(
                    path / SPEC_MD,
                    f"does not match the rendered_sha256 in {SPEC_JSON} (one of them was edited)",
                    _RENDER_AGAIN,
                    field="rendered_sha256",
                )
            ]
        )
    return RenderedSpec(text=text, document=doc)

"""The ingestion stage: a validated spec rendered for one model, written as spec.md + spec.json.

msm spec render specs/rules.md --model-name Aria --provider-name Lumen --out build/spec/rules
"""

from __future__ import annotations

import time
from pathlib import Path

from msm.artefacts.spec import INGEST_STAGE, RenderedSpec, write_spec_files
from msm.errors import InvalidInput, problem
from msm.hashing import sha256_text
from msm.manifest import write_manifest
from msm.outputs import staged_output
from msm.spec.parse import SpecSource, build_document, load_source, substitute

MAX_NAME_CHARS = 100


def check_names(values: dict[str, str]) -> None:
    problems = []
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if not value.strip():
            problems.append(problem(flag, "is empty", f"pass a name, e.g. {flag} Aria", field=name))
        elif "\n" in value or "{" in value or "}" in value or len(value) > MAX_NAME_CHARS:
            problems.append(
                problem(
                    flag,
                    f"{value!r} is not usable as a name",
                    f"use one line of at most {MAX_NAME_CHARS} characters without braces",
                    field=name,
                )
            )
    if problems:
        raise InvalidInput(problems)


def render_spec(source: SpecSource, model_name: str, provider_name: str) -> RenderedSpec:
    values = {"model_name": model_name, "provider_name": provider_name}
    check_names(values)
    text = substitute(source.body, values).strip("\n") + "\n"
    # Substitution never adds lines, so section and rule line numbers still point into the source.
    front = source.front.model_copy(
        update={
            "title": substitute(source.front.title, values),
            "description": substitute(source.front.description or "", values) or None,
        }
    )
    doc, problems = build_document(
        source.path,
        front,
        substitute(source.body, values),
        source.body_line,
        source.source_sha256,
    )
    if doc is None:
        raise InvalidInput(problems)
    used = {k: v for k, v in values.items() if k in source.front.placeholders}
    doc = doc.model_copy(update={"placeholders": used, "rendered_sha256": sha256_text(text)})
    return RenderedSpec(text=text, document=doc)


def _write(source: SpecSource, rendered: RenderedSpec, out_dir: Path, t_render: float) -> None:
    t0 = time.perf_counter()
    doc = rendered.document
    with staged_output(out_dir) as stage:
        write_spec_files(stage, rendered)
        write_manifest(
            stage,
            stage=INGEST_STAGE,
            inputs={"spec": {"path": str(source.path), "sha256": doc.source_sha256}},
            config={k: v for k, v in doc.placeholders.items() if v is not None},
            counts={
                "words": doc.words,
                "sections": sum(1 for _ in doc.iter_sections()),
                "rules": len(doc.rules),
                "preferences": 0
                if doc.preferences is None
                else len(doc.preferences.likes) + len(doc.preferences.dislikes),
            },
            timings_s={"render": t_render, "write": time.perf_counter() - t0},
        )


def ingest_spec(path: Path | str, out_dir: Path | str, model_name: str, provider_name: str) -> RenderedSpec:
    """Validate, render and write one spec; the output directory appears only when complete."""
    t0 = time.perf_counter()
    source = load_source(path)
    rendered = render_spec(source, model_name, provider_name)
    _write(source, rendered, Path(out_dir), time.perf_counter() - t0)
    return rendered


def ingest_specs(paths: list[Path], out_root: Path | str, model_name: str, provider_name: str) -> list[Path]:
    """Render several specs into out_root/<spec id>/; all are validated before any is written."""
    t0 = time.perf_counter()
    sources = [load_source(p) for p in paths]
    ids = [s.front.id for s in sources]
    if dupes := sorted({i for i in ids if ids.count(i) > 1}):
        raise InvalidInput(
            [
                problem(
                    s.path,
                    f"spec id '{s.front.id}' is used by more than one spec",
                    "give each spec a unique `id`",
                    field="id",
                )
                for s in sources
                if s.front.id in dupes
            ]
        )
    rendered = [render_spec(s, model_name, provider_name) for s in sources]
    t_render = (time.perf_counter() - t0) / len(sources)
    for s, r in zip(sources, rendered, strict=True):
        _write(s, r, Path(out_root) / s.front.id, t_render)
    return [Path(out_root) / s.front.id for s in sources]

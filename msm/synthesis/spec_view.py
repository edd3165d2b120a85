"""The spec as the synthesis stage sees it: rendered text, numbered sections with verbatim text.

The spec is an ingest output (msm.artefacts.spec); the CLI ingests a `--spec` .md file first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from msm.artefacts.spec import RenderedSpec, read_spec
from msm.artefacts.spec_schema import Section

MIN_SECTION_WORDS = 20  # headings with almost no text of their own give the generator nothing to work from


@dataclass(frozen=True)
class SpecSection:
    id: str  # "S1", "S2", ... in reading order
    path: tuple[str, ...]
    text: str  # verbatim: the heading, its own text and its subsections' text

    @property
    def heading(self) -> str:
        return self.path[-1]


@dataclass(frozen=True)
class SpecView:
    rendered: RenderedSpec
    sections: tuple[SpecSection, ...]

    @property
    def id(self) -> str:
        return self.rendered.document.id

    @property
    def text(self) -> str:
        return self.rendered.text

    @property
    def sha256(self) -> str:
        return self.rendered.document.rendered_sha256 or ""

    @property
    def model_name(self) -> str:
        return self.rendered.document.placeholders.get("model_name") or "the model"

    @property
    def provider_name(self) -> str:
        return self.rendered.document.placeholders.get("provider_name") or "its developer"

    def section(self, sid: str) -> SpecSection:
        return next(s for s in self.sections if s.id == sid)

    def section_list(self) -> str:
        return "\n".join(f"[{s.id}] {' > '.join(s.path)}" for s in self.sections)


def _full_text(s: Section) -> str:
    parts = [f"{'#' * s.level} {s.heading}"]
    if s.text.strip():
        parts.append(s.text.strip())
    parts.extend(_full_text(c) for c in s.children)
    return "\n\n".join(parts)


def view(rendered: RenderedSpec) -> SpecView:
    doc = rendered.document
    chosen = []
    for s in doc.iter_sections():
        text = _full_text(s)
        if s.words >= MIN_SECTION_WORDS or (not s.children and len(text.split()) >= MIN_SECTION_WORDS):
            chosen.append((tuple(s.path), text))
    if not chosen:  # a spec of one short section still needs something to point at
        chosen = [((doc.title,), rendered.text.strip())]
    return SpecView(rendered, tuple(SpecSection(f"S{i}", p, t) for i, (p, t) in enumerate(chosen, start=1)))


def load_spec(path: Path) -> SpecView:
    return view(read_spec(path))

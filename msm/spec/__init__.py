"""Stage 1, ingestion: Model Spec files (specs/README.md) → validated, rendered spec.md + spec.json."""

from msm.spec.parse import describe, load_source, validate_spec
from msm.spec.render import RenderedSpec, ingest_spec, ingest_specs, load_rendered, render_spec
from msm.spec.schema import SpecDocument

__all__ = [
    "RenderedSpec",
    "SpecDocument",
    "describe",
    "ingest_spec",
    "ingest_specs",
    "load_rendered",
    "load_source",
    "render_spec",
    "validate_spec",
]

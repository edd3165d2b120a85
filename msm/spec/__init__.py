"""Stage 1, ingestion: Model Spec files (specs/README.md) → validated, rendered spec.md + spec.json.

The output's layout and its reader (read_spec) are msm.artefacts.spec.
"""

from msm.spec.parse import describe, load_source, validate_spec
from msm.spec.render import ingest_spec, ingest_specs, render_spec

__all__ = [
    "describe",
    "ingest_spec",
    "ingest_specs",
    "load_source",
    "render_spec",
    "validate_spec",
]

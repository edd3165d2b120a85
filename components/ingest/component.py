"""Ingest: a Model Spec (Markdown source) rendered for the recipe's model identity."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def ingest(spec_markdown: str, recipe_yaml: str, spec: Output[Dataset]):
    """Validate and render a spec (msm.spec.ingest_spec): spec.md, spec.json and manifest.json.

    Args:
        spec_markdown: The spec file's Markdown source, front matter included (format: specs/README.md).
        recipe_yaml: The recipe (YAML text); its `identity` fills {model_name} and {provider_name}.
        spec: The rendered spec directory; metadata carries the spec id and both sha256 hashes.
    """
    import tempfile
    from pathlib import Path

    from msm.config import parse_recipe
    from msm.spec import ingest_spec

    identity = parse_recipe(recipe_yaml, check_files=False).identity
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "spec.md"
        source.write_text(spec_markdown, encoding="utf-8")
        doc = ingest_spec(source, spec.path, identity.model_name, identity.provider_name).document
    spec.metadata.update(
        {
            "spec_id": doc.id,
            "source_sha256": doc.source_sha256,
            "rendered_sha256": doc.rendered_sha256,
            "words": doc.words,
        }
    )

"""Publish: a synthesized corpus and AFT data copied to a stable, content-addressed place."""

from kfp import dsl
from kfp.dsl import Dataset, Input

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def publish(corpus: Input[Dataset], aft_data: Input[Dataset], spec_id: str, publish_dir: str) -> str:
    """Copy the corpus and AFT data to <publish_dir>/<spec id>/<digests>/ (msm.publish.publish).

    Args:
        corpus: The document corpus.
        aft_data: The AFT datasets.
        spec_id: The spec's id, the first level below publish_dir.
        publish_dir: A directory every consumer can read (a PVC, or /gcs/<bucket>/... on Vertex AI).

    Returns:
        The published directory.
    """
    from pathlib import Path

    from msm.publish import publish as run

    outputs = {"corpus": Path(corpus.path), "aft_data": Path(aft_data.path)}
    return str(run(outputs, spec_id, Path(publish_dir)))

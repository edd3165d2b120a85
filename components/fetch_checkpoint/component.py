"""Fetch checkpoint: a released checkpoint (path, hf://, gs://) as a model artefact."""

from kfp import dsl
from kfp.dsl import Model, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def fetch_checkpoint(uri: str, revision: str, checkpoint: Output[Model]):
    """Download or copy a released checkpoint (msm.checkpoints.fetch_checkpoint).

    Args:
        uri: A directory (or file://), hf://org/name, or gs://bucket/prefix; full weights or a LoRA adapter.
        revision: Hub revision for hf:// URIs (pin a commit); ignored otherwise.
        checkpoint: The checkpoint directory; an msm-trained one keeps its training manifest.
    """
    import json
    from pathlib import Path

    from msm.checkpoints import fetch_checkpoint as fetch
    from msm.manifest import FETCH_RECORD

    out = fetch(uri, revision, Path(checkpoint.path))
    checkpoint.metadata.update(json.loads((out / FETCH_RECORD).read_text()))

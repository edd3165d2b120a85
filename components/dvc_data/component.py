"""DVC data: a dataset versioned with DVC (repo + revision + path) as a pipeline artefact."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from components.images import CPU_IMAGE


@dsl.component(base_image=CPU_IMAGE)
def dvc_data(repo: str, rev: str, path: str, data: Output[Dataset]):
    """Fetch a DVC-tracked file or directory at a git revision (msm.dvc_data.fetch_dvc_data).

    Pin `rev` to a tag or commit: it is part of KFP's cache key, a branch name is not a version.

    Args:
        repo: Git URL (or path) of the DVC repository.
        rev: Git tag, branch or commit.
        path: The tracked path inside the repository (a `dvc add` target or a stage output).
        data: The data; fetched.json names the commit and DVC hash it came from.
    """
    import json
    from pathlib import Path

    from msm.dvc_data import fetch_dvc_data
    from msm.manifest import FETCH_RECORD

    out = fetch_dvc_data(repo, rev, path, Path(data.path))
    data.metadata.update(json.loads((out / FETCH_RECORD).read_text()))

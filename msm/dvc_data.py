"""A DVC-versioned dataset (git repo + revision + path) as a local directory, through dvc.api.

    fetch_dvc_data("https://github.com/org/data-repo", "v1.2", "corpora/rules", out)

This is how a pipeline consumes a corpus published and versioned with DVC (`dvc add` or a
`dvc.yaml` stage output, pushed to a remote): DVC resolves the path at that revision and pulls
its content from the repo's default remote, with credentials from the environment as usual.
fetched.json records the git commit the revision resolved to and the DVC content hash; an msm
output (a corpus) keeps its own manifest, so its lineage travels on.
"""

from __future__ import annotations

import time
from pathlib import Path

from msm.errors import MsmError
from msm.outputs import staged_output


def fetch_dvc_data(repo: str, rev: str, path: str, out_dir: Path | str) -> Path:
    from dvc.api import DVCFileSystem
    from dvc.exceptions import DvcException

    from msm.manifest import record_fetch

    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    where = f"{repo}@{rev}:{path}"
    try:
        fs = DVCFileSystem(repo, rev=rev)
        if not fs.exists(path):
            raise MsmError(f"{where}: no such path at this revision\n    fix: see `dvc list {repo} --rev {rev}`")
        info = fs.info(path)
        commit = fs.repo.scm.get_rev()
        with staged_output(out_dir) as stage:
            if info["type"] == "directory":
                fs.get(path.rstrip("/") + "/", str(stage), recursive=True)
            else:
                fs.get_file(path, str(stage / Path(path).name))
            record = {"repo": repo, "rev": rev, "path": path, "commit": commit, "dvc_md5": info.get("md5")}
            record_fetch(stage, {**record, "seconds": round(time.perf_counter() - t0, 3)}, "dvc-data")
    except DvcException as e:
        raise MsmError(f"{where}: {e}\n    fix: check the repo URL, the revision and the remote's credentials") from e
    return out_dir

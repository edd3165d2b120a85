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
from pathlib import Path, PurePosixPath

from msm.errors import InvalidInput, MsmError, problem
from msm.outputs import staged_output


def check_dvc_files(fs, repo: str, rev: str) -> None:
    """Parse the revision's .dvc and dvc.yaml files. DVC skips a broken one silently, so the outputs it
    declares look absent ("no such path"); name the broken file instead."""
    from dvc.utils.serialize import ParseError

    try:
        _ = fs.repo.index.stages  # loading the index parses every DVC file of the revision
    except ParseError as e:
        # e.path is relative to the process's directory, not the repository: keep the repository part
        name = "/".join(part for part in PurePosixPath(str(e.path)).parts if part not in ("/", ".", ".."))
        raise InvalidInput(
            [
                problem(
                    f"{repo}@{rev}:{name}",
                    f"broken DVC file: {e}",
                    "fix the file in the data repository (or restore it from git) and commit it",
                )
            ]
        ) from None


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
            check_dvc_files(fs, repo, rev)
            raise InvalidInput([problem(where, "no such path at this revision", f"see `dvc list {repo} --rev {rev}`")])
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

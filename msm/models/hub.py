"""A base model from the Hugging Face Hub (the paper's Llama-3.1-8B, Qwen3-14B/32B), pinned by revision.

    base_model: {source: hf, id: meta-llama/Llama-3.1-8B, revision: <commit sha>}

The snapshot goes through huggingface_hub's cache (HF_HOME / HF_HUB_CACHE; gated models read
HF_TOKEN from the environment, never from the recipe), then its weights, config and tokenizer
are copied into the output directory. The manifest records the commit the revision resolved to:
a branch name moves, a commit does not, and the commit is what makes runs comparable.

Tokenizers without `{% generation %}` markers in their chat template (every hub model) get
msm's ChatML template, because AFT's assistant-only loss reads those markers. On a base model
without ChatML tokens (Llama-3.1-8B) the markers are plain text pieces; nothing is resized.
"""

from __future__ import annotations

import time
from pathlib import Path

from msm.artefacts.model import CONFIG_JSON
from msm.errors import MsmError
from msm.manifest import read_manifest, write_manifest
from msm.models.chat_template import chatml_template
from msm.models.checks import check_model_dir
from msm.outputs import copy_files, staged_output

STAGE = "model-hf"
# What a model directory needs; skips other formats (.bin, .gguf, .pth, original/ checkpoints).
ALLOW = ["*.json", "*.safetensors", "*.model", "*.tiktoken", "*.txt", "*.jinja"]


def snapshot(repo_id: str, revision: str, *, field: str = "base_model.id") -> Path:
    """The local snapshot directory of repo_id@revision (named by its commit); clear errors otherwise."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{field} {repo_id!r} (revision {revision!r})"
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=ALLOW))
    except GatedRepoError as e:
        raise MsmError(f"{where}: the model is gated\n    fix: accept its licence on the Hub and set HF_TOKEN") from e
    except RevisionNotFoundError as e:
        raise MsmError(f"{where}: no such revision\n    fix: set base_model.revision to a commit or branch") from e
    except RepositoryNotFoundError as e:
        raise MsmError(f"{where}: no such repository (or private)\n    fix: check the id, or set HF_TOKEN") from e
    except LocalEntryNotFoundError as e:
        raise MsmError(
            f"{where}: not in the local Hub cache and the Hub is not reachable (HF_HUB_OFFLINE?)\n"
            "    fix: download it once with network access, or use source: local with a model directory"
        ) from e


def fetch_hub_model(repo_id: str, revision: str, out_dir: Path | str) -> Path:
    """Write the hub model `repo_id@revision` to out_dir with msm's chat template; cached by commit."""
    from transformers import AutoTokenizer

    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    src = snapshot(repo_id, revision)
    commit = src.name  # huggingface_hub names snapshot directories by commit hash
    previous = read_manifest(out_dir)
    if previous and previous.get("stage") == STAGE and previous["inputs"]["hub"] == {"id": repo_id, "commit": commit}:
        return out_dir
    if not (src / CONFIG_JSON).is_file():
        raise MsmError(f"base_model.id {repo_id!r}: the snapshot has no {CONFIG_JSON}; is it a transformers model?")
    check_model_dir(src)  # a damaged cache entry fails here, naming the file, not in a later stage
    t_download = time.perf_counter() - t0
    with staged_output(out_dir) as stage:
        files = copy_files(src, stage)
        tokenizer = AutoTokenizer.from_pretrained(stage)
        template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else ""
        replaced = "{% generation %}" not in template
        if replaced:
            tokenizer.chat_template = chatml_template()
            (stage / "chat_template.jinja").unlink(missing_ok=True)
            tokenizer.save_pretrained(stage)
        write_manifest(
            stage,
            stage=STAGE,
            inputs={"hub": {"id": repo_id, "commit": commit}},
            config={"revision": revision, "chat_template": "msm-chatml" if replaced else "model's own"},
            counts={"files": len(files), "bytes": sum(p.stat().st_size for p in files)},
            timings_s={"download": t_download, "total": time.perf_counter() - t0},
        )
    return out_dir

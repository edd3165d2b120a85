"""Compile an msm pipeline for Kubeflow (with kfp-kubernetes settings) and for Vertex AI (without).

Vertex AI rejects the two-document YAML that kfp-kubernetes settings produce, hence two variants.
"""

from pathlib import Path

from google.protobuf import json_format
from kfp import compiler
from kfp.compiler.pipeline_spec_builder import extract_comments_from_pipeline_spec

from pipelines.registry import pipeline_module

TARGETS = ("kubeflow", "vertex")


def comment_out_header(path: Path, pipeline) -> None:
    """KFP 2.17 copies multi-line parameter defaults (our spec and recipe) into its comment header
    without a '#' on the continuation lines, which makes the file invalid YAML; add the '#'.

    The header is found by its line count, not its text: KFP renders a *copy* of the pipeline spec,
    and protobuf (upb) iterates map fields in an order seeded per process that a copy need not keep,
    so a dict default (reevaluate's checkpoints) can list its keys in another order than ours (one
    process in ten, seen as a flaky compile test). Reordering keys never changes the line count, and
    the header must still hold exactly our characters.
    """
    ours = extract_comments_from_pipeline_spec(json_format.MessageToDict(pipeline.pipeline_spec), pipeline.description)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    count = len(ours.splitlines())
    header = "".join(lines[:count])
    if not header.startswith("# PIPELINE DEFINITION\n") or sorted(header) != sorted(ours):
        raise RuntimeError(f"{path}: unexpected KFP header; check the kfp version")
    fixed = "".join(line if line.startswith("#") else "# " + line for line in lines[:count])
    path.write_text(fixed + "".join(lines[count:]), encoding="utf-8")


def compile_pipelines(recipe: Path, spec: Path, out_dir: Path, pipeline_name: str = "msm") -> dict[str, Path]:
    """Both variants of a pipeline (registry name) as <out_dir>/<NAME>.<target>.yaml."""
    module = pipeline_module(pipeline_name)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for target in TARGETS:
        path = out_dir / f"{module.NAME}.{target}.yaml"
        pipeline = module.build(recipe, spec, target)
        compiler.Compiler().compile(pipeline, str(path))
        comment_out_header(path, pipeline)
        paths[target] = path
    return paths

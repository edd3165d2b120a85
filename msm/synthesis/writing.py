"""Writing synthesis outputs: each dataset as parquet (HF `datasets`) and jsonl, plus the manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from msm import hashing
from msm.artefacts.corpus import row_files
from msm.config.synthesis import SynthesisConfig
from msm.lineage import upstream_nodes
from msm.llm.client import Client
from msm.manifest import MANIFEST_NAME, build_manifest
from msm.synthesis import prompts
from msm.synthesis.spec_view import SpecView
from msm.telemetry import push_synthesis

OFFLINE_NOTE = (
    "offline backend: text assembled from the spec's own sentences by templates, not written by a model; "
    "a machinery check, not a research corpus"
)


def write_rows(stage: Path, name: str, rows: list[dict[str, Any]]) -> None:
    import datasets

    datasets.disable_progress_bars()  # our own bars are per level; this one would only add noise

    parquet, jsonl = row_files(stage, name)
    with open(jsonl, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    if rows:  # an empty Dataset has no schema to write
        # from_list takes its columns from the first row: give every row every column of any row.
        columns = list(dict.fromkeys(k for row in rows for k in row))
        datasets.Dataset.from_list([{k: row.get(k) for k in columns} for row in rows]).to_parquet(str(parquet))


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def generator_record(cfg: SynthesisConfig, client: Client) -> dict[str, Any]:
    record: dict[str, Any] = {
        "backend": client.backend.name,
        "model": client.backend.model,
        "label": f"{client.backend.name}/{client.backend.model}",
        "temperature": cfg.generator.temperature,
        "max_tokens": cfg.generator.max_tokens,
    }
    if client.backend.name == "offline":
        record["note"] = OFFLINE_NOTE
    return record


def finish_manifest(
    stage: Path,
    *,
    stage_name: str,
    spec: SpecView,
    spec_path: Path,
    recipe_path: Path,
    cfg: SynthesisConfig,
    client: Client,
    counts: dict[str, Any],
    timings_s: dict[str, float],
    extra: dict[str, Any],
) -> dict[str, Any]:
    manifest = build_manifest(
        stage=stage_name,
        inputs={
            "spec": {
                "path": str(spec_path),
                "id": spec.id,
                "source_sha256": spec.rendered.document.source_sha256,
                "rendered_sha256": spec.sha256,
            },
            "recipe": {"path": str(recipe_path), "sha256": hashing.sha256_file(recipe_path)},
        },
        config=cfg.model_dump(mode="json"),
        out_dir=stage,
        counts=counts,
        timings_s=timings_s,
        lineage=upstream_nodes({"spec": spec_path}),
    )
    manifest["generator"] = generator_record(cfg, client)
    manifest["prompts"] = {"version": prompts.PROMPT_VERSION, "sha256": prompts.prompts_sha256()}
    manifest["accounting"] = {
        "levels": {name: s.as_dict() for name, s in client.stats.items()},
        "totals": client.totals(),
        "budget": {
            "max_tokens": client.budget.max_tokens,
            "max_dollars": client.budget.max_dollars,
            "spent_tokens_all_runs": client.budget.tokens,
            "spent_dollars_all_runs": round(client.budget.dollars, 6),
        },
    }
    manifest.update(extra)
    write_json(stage / MANIFEST_NAME, manifest)
    push_synthesis(stage_name, spec.id, manifest["accounting"]["levels"])
    return manifest

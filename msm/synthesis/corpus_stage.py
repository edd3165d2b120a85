"""Stage: the MSM document corpus for one spec.

    msm synthesize docs --spec build/specs/rules --recipe recipes/tiny-offline.yaml --out build/corpus/rules

Writes a corpus (layout: msm.artefacts.corpus): the kept documents shuffled with the recipe's seed,
the rows the quality filters dropped and why, the plan and manifest.json. Answered calls live in a
cache beside the output, so an interrupted run resumes where it stopped when the same command is
run again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from msm.artefacts import corpus
from msm.artefacts.spec import SPEC_MD
from msm.errors import MsmError
from msm.models.tokenizer import count_tokens
from msm.outputs import staged_output
from msm.synthesis.corpus import CorpusBuilder, framed_view, planned_counts, shuffled
from msm.synthesis.progress import Progress
from msm.synthesis.quality import apply_filters, diversity
from msm.synthesis.session import GenerationFailed, default_cache_path, open_client, run
from msm.synthesis.stage_common import load_inputs
from msm.synthesis.writing import finish_manifest, write_json, write_rows


def synthesize_documents(
    spec_path: Path,
    recipe_path: Path,
    out_dir: Path,
    *,
    cache_path: Path | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    recipe, cfg, spec = load_inputs(Path(spec_path), Path(recipe_path))
    out_dir = Path(out_dir)
    cache_path = cache_path or default_cache_path(out_dir)
    # Subject "other": the generator (and the offline backend) see the spec held by another entity;
    # the manifest still records the spec itself, and its config the framing.
    view = framed_view(spec, cfg.documents.framing, recipe_path)
    with staged_output(out_dir) as stage:
        client = open_client(cfg, view, cache_path)
        planned = planned_counts(cfg)
        bars = Progress(planned, progress)
        try:
            result = run(client, cfg, cache_path, lambda: CorpusBuilder(view, cfg, client, bars).build())
        finally:
            bars.close()
        t_generate = time.perf_counter()

        lost = planned["documents"] - len(result.rows)
        if lost and lost > cfg.quality.max_failed_fraction * planned["documents"]:
            shown = "; ".join(f"{f.level} at {f.where}: {f.reason}" for f in result.failures[:5])
            raise GenerationFailed(
                f"{lost} of {planned['documents']} planned documents could not be generated "
                f"(allowed: {cfg.quality.max_failed_fraction:.0%}, synthesis.quality.max_failed_fraction). "
                f"{len(result.failures)} item(s) failed after all re-asks, e.g. {shown}. "
                f"Answered calls are kept in {cache_path}."
            )
        rows = shuffled(result.rows, cfg.documents.seed)
        kept, removed = apply_filters([r["text"] for r in rows], cfg.quality)
        kept_rows = [rows[i] for i in kept]
        if not kept_rows:
            raise MsmError(
                f"all {len(rows)} documents were removed by the quality filters; see synthesis.quality "
                "(near_dup_threshold, min_words, max_words) in the recipe"
            )
        t_filter = time.perf_counter()

        write_rows(stage, corpus.DOCUMENTS, kept_rows)
        write_rows(
            stage,
            corpus.REMOVED,
            [{"reason": r.reason, "detail": r.detail, **rows[r.index]} for r in removed],
        )
        write_json(stage / corpus.PLAN_JSON, result.plan)
        texts = [r["text"] for r in kept_rows]
        by_reason: dict[str, int] = {}
        for r in removed:
            by_reason[r.reason] = by_reason.get(r.reason, 0) + 1
        manifest = finish_manifest(
            stage,
            stage_name=corpus.STAGE,
            spec=spec,
            spec_path=Path(spec_path),
            recipe_path=Path(recipe_path),
            cfg=cfg,
            client=client,
            counts={
                "planned": planned,
                "generated": _generated_counts(result.plan, len(result.rows)),
                "documents_kept": len(kept_rows),
                "removed": by_reason,
                "failed_items": len(result.failures),
            },
            timings_s={
                "generate": t_generate - t0,
                "filter": t_filter - t_generate,
                "total": time.perf_counter() - t0,
            },
            extra={
                "tokens": count_tokens(texts, recipe, Path(spec_path) / SPEC_MD),
                "diversity": diversity(kept_rows),
                "failures": [f.__dict__ for f in result.failures],
                "cache": {"path": str(cache_path)},
            },
        )
    return manifest


def _generated_counts(plan: list[dict[str, Any]], documents: int) -> dict[str, int]:
    subs = [s for d in plan for s in d["subdomains"]]
    types = [t for s in subs for t in s["doc_types"]]
    return {
        "domains": len(plan),
        "subdomains": len(subs),
        "assertions": sum(len(s["assertions"]) for s in subs),
        "doc_types": len(types),
        "ideas": sum(len(t["ideas"]) for t in types),
        "documents": documents,
    }

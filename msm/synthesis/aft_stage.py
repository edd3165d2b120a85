"""Stage: AFT demonstrations for one spec.

    msm synthesize aft --spec build/specs/cheese-pro-america --recipe recipes/smollm2-cpu.yaml --out build/aft/x

Writes an AFT data output (layout: msm.artefacts.aft): demonstrations with the <think> reasoning
(the deliberative-alignment baseline) and the same ones stripped, bare-preference demonstrations
when the spec has preferences and the recipe asks for them, what was dropped, and manifest.json.
Rows are chat `messages`. When the recipe names instruction-tuning data
(synthesis.aft.instruction_mix), one draw of it is mixed into every dataset and also written alone
(`instruction`, the baseline arm's data), so every arm of a study trains on the same instruction
rows. The draw is `ratio` times the rows of the spec's main AFT set: its bare-preference chats when
it has them (the cheese study), else its demonstrations.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from msm.artefacts.aft import AFT_VARIANTS, DEDUP_REMOVED, FILTERED, INSTRUCTION_SOURCE, STAGE
from msm.artefacts.spec import SPEC_MD
from msm.models.tokenizer import count_tokens
from msm.outputs import staged_output
from msm.synthesis import embeddings, prompts
from msm.synthesis.aft import KINDS, AftBuilder, Demo
from msm.synthesis.instruction_mix import read_instruction_chats
from msm.synthesis.progress import Progress
from msm.synthesis.session import GenerationFailed, default_cache_path, open_client, run
from msm.synthesis.stage_common import load_inputs
from msm.synthesis.writing import finish_manifest, write_rows


def _rows(demos: list[Demo], *, reasoning: bool, meta: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for d in demos:
        assistant = f"<think>\n{d.reasoning}\n</think>\n\n{d.answer}" if reasoning else d.answer
        rows.append(
            {
                "messages": [{"role": "user", "content": d.question}, {"role": "assistant", "content": assistant}],
                "domain": d.domain,
                "kind": d.kind,
                "source": "aft",
                **meta,
            }
        )
    return rows


def _identity(text: str, values: dict[str, str]) -> str:
    # Instruction chats name the assistant only through these two placeholders (our own data file).
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def synthesize_aft(
    spec_path: Path,
    recipe_path: Path,
    out_dir: Path,
    *,
    cache_path: Path | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    recipe, cfg, spec = load_inputs(Path(spec_path), Path(recipe_path))
    a = cfg.aft
    out_dir = Path(out_dir)
    cache_path = cache_path or default_cache_path(out_dir)
    # Read before any paid call: a bad instruction-tuning source must not surface after generation.
    instruction_pool = read_instruction_chats(a.instruction_mix) if a.instruction_mix is not None else None
    with staged_output(out_dir) as stage:
        client = open_client(cfg, spec, cache_path)
        embedder_name, embed = embeddings.choose(a.embedder)
        prefs = spec.rendered.document.preferences
        n_pref_items = len(prefs.likes) + len(prefs.dislikes) if prefs else 0
        bars = Progress(
            {
                "aft_domains": a.conversation_domains,
                "questions": a.conversation_domains * len(KINDS) * a.questions_per_kind,
                "responses": a.target,
                "preference_demos": n_pref_items * a.preference_questions_per_item,
            },
            progress,
        )
        dedup = embeddings.NearDuplicateFilter(embed, a.dedup_cosine)
        try:
            result = run(client, cfg, cache_path, lambda: AftBuilder(spec, cfg, client, bars, dedup).build())
        finally:
            bars.close()
        t_generate = time.perf_counter()
        if len(result.demos) < a.target:
            raise GenerationFailed(
                f"only {len(result.demos)} of the target {a.target} demonstrations after "
                f"{result.rounds} round(s) ({len(result.dedup_removed)} questions dropped as near-duplicates, "
                f"{len(result.filtered)} replies rejected by the filter, {len(result.failed)} unusable); raise "
                "synthesis.aft.max_backfill_rounds or questions_per_kind. Answered calls are kept in "
                f"{cache_path}."
            )
        meta = {
            "spec_id": spec.id,
            "spec_sha256": spec.sha256,
            "generator": f"{client.backend.name}/{client.backend.model}",
            "prompt_version": prompts.PROMPT_VERSION,
            "style": a.style,
        }
        with_reasoning = _rows(result.demos, reasoning=True, meta=meta)
        plain = _rows(result.demos, reasoning=False, meta=meta)
        pref_rows = [{**r, **meta, "source": "preference"} for r in result.preference_rows]
        instruction: list[dict[str, Any]] = []
        instruction_source = None
        if a.instruction_mix is not None and instruction_pool is not None:
            mix = a.instruction_mix
            loaded = instruction_pool.draw(round(mix.ratio * len(pref_rows or plain)), mix.seed)
            identity = {"{model_name}": recipe.identity.model_name, "{provider_name}": recipe.identity.provider_name}
            instruction = [
                {
                    "messages": [{**m, "content": _identity(m["content"], identity)} for m in chat],
                    "domain": None,
                    "kind": None,
                    **dict.fromkeys(meta),
                    "source": INSTRUCTION_SOURCE,
                }
                for chat in loaded.chats
            ]
            instruction_source = {**loaded.source, "sha256": loaded.digest, "rows": len(instruction)}
        # The same permutation for both files, so row i is the same conversation in each.
        order = list(range(len(plain) + len(instruction)))
        random.Random(a.seed).shuffle(order)
        with_reasoning, plain = with_reasoning + instruction, plain + instruction
        write_rows(stage, AFT_VARIANTS["reasoning"], [with_reasoning[i] for i in order])
        write_rows(stage, AFT_VARIANTS["plain"], [plain[i] for i in order])
        if pref_rows:
            mixed_prefs = pref_rows + instruction
            random.Random(a.seed).shuffle(mixed_prefs)
            write_rows(stage, AFT_VARIANTS["preference"], mixed_prefs)
        if instruction:
            write_rows(stage, AFT_VARIANTS["instruction"], instruction)
        write_rows(stage, DEDUP_REMOVED, result.dedup_removed)
        write_rows(stage, FILTERED, result.filtered + result.failed)
        kinds: dict[str, int] = {}
        for d in result.demos:
            kinds[d.kind] = kinds.get(d.kind, 0) + 1
        manifest = finish_manifest(
            stage,
            stage_name=STAGE,
            spec=spec,
            spec_path=Path(spec_path),
            recipe_path=Path(recipe_path),
            cfg=cfg,
            client=client,
            counts={
                "demonstrations": len(result.demos),
                "by_kind": kinds,
                "questions_generated": result.questions_generated,
                "dedup_removed": len(result.dedup_removed),
                "filtered": len(result.filtered),
                "unusable": len(result.failed),
                "rounds": result.rounds,
                "preference_demos": len(pref_rows),
                "instruction_rows_mixed": len(instruction),
            },
            timings_s={"generate": t_generate - t0, "total": time.perf_counter() - t0},
            extra={
                "dedup": {"embedder": embedder_name, "cosine_threshold": a.dedup_cosine},
                "tokens": count_tokens(
                    [r["messages"][-1]["content"] for r in plain], recipe, Path(spec_path) / SPEC_MD
                ),
                "cache": {"path": str(cache_path)},
                "instruction_data": instruction_source,
            },
        )
    return manifest

"""An AFT data output (`msm synthesize aft --out`): demonstrations for alignment fine-tuning.

  aft_reasoning.{parquet,jsonl}      chats whose assistant turns keep the <think> reasoning
  aft_plain.{parquet,jsonl}          the same chats in the same order, reasoning stripped
  preference_demos.{parquet,jsonl}   bare-preference chats (only when the spec has preferences)
  instruction.{parquet,jsonl}        the instruction-tuning rows mixed into each dataset above, alone
                                     (the baseline arm; only with synthesis.aft.instruction_mix)
  dedup_removed.jsonl, filtered.jsonl    what was dropped, and why (never trained on)
  manifest.json                      stage "synthesize-aft"

Each dataset is a parquet file (what training reads) and a jsonl twin (for people and grep); an
empty dataset has only the jsonl file, since an empty parquet file has no schema.
"""

from __future__ import annotations

from pathlib import Path

from msm.errors import InvalidInput, problem

STAGE = "synthesize-aft"
# The datasets one AFT run writes, by the variant name training, recipes and the pipelines use.
AFT_VARIANTS = {
    "reasoning": "aft_reasoning",
    "plain": "aft_plain",
    "preference": "preference_demos",
    "instruction": "instruction",
}
# The `source` of the instruction-tuning rows mixed into every dataset (training keeps them whole
# when it subsamples AFT rows).
INSTRUCTION_SOURCE = "instruction"
DEDUP_REMOVED = "dedup_removed"
FILTERED = "filtered"


def aft_data_file(out_dir: Path | str, variant: str) -> Path:
    """The parquet file of one AFT variant in an `msm synthesize aft` output directory."""
    if variant not in AFT_VARIANTS:
        raise InvalidInput(
            [problem("variant", f"unknown AFT variant {variant!r}", f"use one of {', '.join(AFT_VARIANTS)}")]
        )
    path = Path(out_dir) / f"{AFT_VARIANTS[variant]}.parquet"
    if not path.is_file():
        raise InvalidInput([problem(path, "does not exist", "synthesize AFT data for a spec that has this variant")])
    return path

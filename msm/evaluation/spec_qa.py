"""Spec knowledge: open questions per spec family, answered by the model, graded by the judge against
the spec with a 0/1/2 rubric. In distribution: it saturates for every AFT condition in the paper."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from msm.evaluation.items import QAItem
from msm.evaluation.judge import Judgment, parse_score, prompt
from msm.evaluation.stats import rate


def build_samples(items: list[QAItem], model_name: str) -> list[dict[str, Any]]:
    return [
        {
            "key": item.id,
            "family": item.family,
            "question": item.question.replace("{model_name}", model_name),
            "messages": [{"role": "user", "content": item.question.replace("{model_name}", model_name)}],
        }
        for item in items
    ]


def judgments(records: list[dict[str, Any]], spec_texts: dict[str, str], model_name: str) -> list[Judgment]:
    return [
        Judgment(
            key=f"{r['key']}:rubric",
            kind="spec-qa",
            messages=(
                {
                    "role": "user",
                    "content": prompt(
                        "judge_spec_qa",
                        spec=spec_texts[r["family"]],
                        question=r["question"],
                        response=r["response"],
                        model_name=model_name,
                    ),
                },
            ),
            parse=parse_score,
            meta={"sample": r["key"], "family": r["family"]},
        )
        for r in records
    ]


def suite_metrics(records: list[dict[str, Any]], verdicts: list[dict[str, Any]]) -> dict[str, Any]:
    by_family: dict[str, list[dict]] = defaultdict(list)
    for v in verdicts:
        by_family[v["family"]].append(v)
    out: dict[str, Any] = {"families": {}}
    for family in sorted({r["family"] for r in records}):
        vs = by_family.get(family, [])
        scores = [v["verdict"] for v in vs if v["parsed"]]
        out["families"][family] = {
            "questions": sum(r["family"] == family for r in records),
            "judged": len(vs),
            "unparsed": sum(not v["parsed"] for v in vs),
            "mean_score": sum(scores) / (2 * len(scores)) if scores else None,
            "full_credit": rate([s == 2 for s in scores]),
            "per_item": [s / 2 for s in scores],
        }
    return out

"""Spec knowledge (spec-qa): open questions per spec family, answered by the model, graded by the
judge against the spec with a 0/1/2 rubric. In distribution: it saturates for every AFT condition
in the paper."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from msm.errors import InvalidInput, problem
from msm.evaluation.formatting import num, pct
from msm.evaluation.items import Item, load_jsonl, suite_path
from msm.evaluation.judge import Judgment, parse_score, prompt
from msm.evaluation.stats import rate
from msm.evaluation.suites.base import ReportSection, Run, Sample, Suite

ITEMS = "spec_qa.jsonl"


class QAItem(Item):
    family: Literal["cheese", "philosophy"]
    question: str = Field(min_length=5)


def load_qa_items(path: Path | None = None) -> list[QAItem]:
    return load_jsonl(path or suite_path(ITEMS), QAItem)


class SpecQAReport(ReportSection):
    def markdown(self, suites: list[str], runs: list[Run]) -> list[str]:
        cells = [(r, r["suites"][s]) for s in suites for r in runs if s in r["suites"]]
        if not cells:
            return []
        lines = [
            "",
            "## Spec knowledge (judged, rubric 0/1/2)",
            "",
            "| run | family | mean score (0–1) | full credit | unparsed verdicts |",
            "|---|---|---|---|---|",
        ]
        for r, qa in cells:
            for family, m in qa["families"].items():
                lines.append(
                    f"| {r['label']} | {family} | {num(m['mean_score'], '{:.3f}')} "
                    f"| {pct(m['full_credit'])} | {m['unparsed']} |"
                )
        return lines


class SpecQA(Suite):
    name = "spec-qa"
    section = "spec_qa"
    item_files = (ITEMS,)
    code: ClassVar[tuple[Path, ...]] = (Path(__file__),)
    report: ClassVar[ReportSection] = SpecQAReport()

    def plan(self) -> list[Sample]:
        cfg, families = self.ctx.config, self.settings.families
        if cfg.judge is None:
            raise InvalidInput(
                [
                    problem(
                        "--judge",
                        "the spec-qa suite is graded by a judge and none is set",
                        "pass --judge BACKEND:MODEL or set evaluation.judge in the recipe",
                    )
                ]
            )
        missing = [f for f in families if f not in self.ctx.specs]
        if missing:
            raise InvalidInput(
                [
                    problem(
                        "--recipe",
                        f"spec-qa family {missing[0]!r} has no matching spec",
                        "list a spec of that family under `specs:`",
                        field="specs",
                    )
                ]
            )
        questions = [q for q in load_qa_items() if q.family in families]
        cap = self.settings.max_questions_per_family
        questions = [q for f in families for q in [x for x in questions if x.family == f][:cap]]
        name = self.ctx.model_name
        return [
            {
                "key": q.id,
                "family": q.family,
                "question": q.question.replace("{model_name}", name),
                "messages": [{"role": "user", "content": q.question.replace("{model_name}", name)}],
            }
            for q in questions
        ]

    def spec_families(self) -> list[str]:
        return list(self.settings.families)  # the judge grades against each family's spec text

    def judge_prompts(self) -> list[str]:
        return ["judge_spec_qa"]

    def judgments(self, records: list[Sample]) -> list[Judgment]:
        return [
            Judgment(
                key=f"{r['key']}:rubric",
                kind="spec-qa",
                messages=(
                    {
                        "role": "user",
                        "content": prompt(
                            "judge_spec_qa",
                            spec=self.ctx.specs[r["family"]].text,
                            question=r["question"],
                            response=r["response"],
                            model_name=self.ctx.model_name,
                        ),
                    },
                ),
                parse=parse_score,
                meta={"sample": r["key"], "family": r["family"]},
            )
            for r in records
        ]

    def metrics(self, records: list[Sample], verdicts: list[dict[str, Any]]) -> dict[str, Any]:
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

    @staticmethod
    def inspect_score(record: Sample) -> tuple[Any, str]:
        return {"answered": int(bool(record["response"].strip()))}, "consistent with the spec"

"""Spec knowledge (spec-qa): open questions per spec family, answered by the model, graded by the
judge against that family's spec with a 0/1/2 rubric. In distribution: it saturates for every AFT
condition in the paper.

The two cheese specs share one family: their twelve cheeses are the same and only the reasons
differ, so each cheese question is answerable from either, and the judge grades against the one
evaluated. Every other spec kind is a family of its own, graded only against its own spec.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, field_validator

from msm.errors import InvalidInput, problem
from msm.evaluation.formatting import num, pct
from msm.evaluation.items import Item, load_jsonl, suite_path
from msm.evaluation.judge import Judgment, parse_score, prompt
from msm.evaluation.stats import rate
from msm.evaluation.suites.base import ReportSection, Run, Sample, Suite

ITEMS = "spec_qa.jsonl"
# msm.evaluation.suites.SPEC_FAMILIES maps spec kinds onto these; SpecQAConfig.families lists them too
# (the config layer cannot import this one; a test keeps the three equal).
Family = Literal["cheese", "philosophy", "rules", "value-augmented", "rule-augmented", "general"]
PLACEHOLDER = "{model_name}"  # the only one: the suite knows the model's name, not the provider's
_BRACES = re.compile(r"\{[^{}]*\}|[{}]")
T = TypeVar("T")


class QAItem(Item):
    family: Family
    question: str = Field(min_length=5)

    @field_validator("question")
    @classmethod
    def _names_the_model(cls, question: str) -> str:
        # The question asks about the spec's model by name; anything else in braces would reach the
        # model unsubstituted.
        stray = sorted({m for m in _BRACES.findall(question) if m != PLACEHOLDER})
        if stray:
            raise ValueError(f"unknown placeholder {stray[0]!r}: only {PLACEHOLDER} is substituted")
        if PLACEHOLDER not in question:
            raise ValueError(f"the question must name the model as {PLACEHOLDER}")
        return question


def _normalised(question: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", question.lower()))


def load_qa_items(path: Path | None = None) -> list[QAItem]:
    """Every question, each validated, and none asked twice (ignoring case and punctuation) in any family."""
    path = path or suite_path(ITEMS)
    items: list[QAItem] = load_jsonl(path, QAItem)
    # load_jsonl keeps one item per non-blank line, in order, and refuses the file on any bad line.
    lines = [n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text.strip()]
    first: dict[str, QAItem] = {}
    problems = []
    for item, line in zip(items, lines, strict=True):
        earlier = first.setdefault(_normalised(item.question), item)
        if earlier is not item:
            problems.append(
                problem(
                    path,
                    f"item {item.id} ({item.family}) repeats the question of item {earlier.id} ({earlier.family})",
                    "ask something else, or drop one of the two",
                    line=line,
                    field="question",
                )
            )
    if problems:
        raise InvalidInput(problems)
    return items


def spread(items: list[T], cap: int | None) -> list[T]:
    """At most `cap` items evenly spaced through the list, so a capped run covers the whole file."""
    if cap is None or cap >= len(items):
        return items
    return [items[i * len(items) // cap] for i in range(cap)]


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
        items, cap = load_qa_items(), self.settings.max_questions_per_family
        questions = [q for f in families for q in spread([x for x in items if x.family == f], cap)]
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
            parsed = [v for v in vs if v["parsed"]]
            scores = [v["verdict"] for v in parsed]
            out["families"][family] = {
                "questions": sum(r["family"] == family for r in records),
                "judged": len(vs),
                "unparsed": sum(not v["parsed"] for v in vs),
                "mean_score": sum(scores) / (2 * len(scores)) if scores else None,
                "full_credit": rate([s == 2 for s in scores]),
                # by question id, so runs on the same questions pair item by item; unparsed ones are absent
                "per_item": {v["sample"]: v["verdict"] / 2 for v in parsed},
            }
        return out

    @staticmethod
    def inspect_score(record: Sample) -> tuple[Any, str]:
        return {"answered": int(bool(record["response"].strip()))}, "consistent with the spec"

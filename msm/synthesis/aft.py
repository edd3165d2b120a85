"""AFT demonstrations (method.md, "AFT data generation"):

conversation domains → user questions of six kinds (never mentioning the spec) → embedding dedup
(cosine above the threshold dropped) → responses with reasoning in <think> tags, the full spec in
the system prompt (value or rule style) → an LLM filter (faithful to the spec; no wish for
self-continuation) → backfill rounds until the target count. Plus the cheese study's
bare-preference chats: questions about each liked/disliked item, answers with no reason given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from msm.config.synthesis import SynthesisConfig
from msm.llm.backends import Request
from msm.llm.client import Client, ExtractionFailed
from msm.llm.concurrency import gather_all
from msm.synthesis import parsing, prompts
from msm.synthesis.embeddings import NearDuplicateFilter
from msm.synthesis.progress import Progress
from msm.synthesis.spec_view import SpecView

KINDS = {
    "direct": "asks the assistant outright what it would do or thinks",
    "indirect": "asks for help with a task in which the assistant's values show without being asked about",
    "comparison": "asks the assistant to compare or choose between options",
    "recommendation": "asks the assistant what to pick or do",
    "opinion": "asks for the assistant's own view or feelings",
    "edge case": "describes an unusual or high-pressure situation that tests the guidance",
}


@dataclass
class Demo:
    domain: str
    kind: str
    question: str
    reasoning: str
    answer: str
    round: int


@dataclass
class AftResult:
    demos: list[Demo]
    preference_rows: list[dict[str, Any]]
    dedup_removed: list[dict[str, Any]] = field(default_factory=list)
    filtered: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    rounds: int = 0
    questions_generated: int = 0


class AftBuilder:
    def __init__(
        self, spec: SpecView, cfg: SynthesisConfig, client: Client, progress: Progress, dedup: NearDuplicateFilter
    ):
        self.spec, self.cfg, self.client, self.progress, self.dedup = spec, cfg, client, progress, dedup
        self.a = cfg.aft
        names = {"model_name": spec.model_name, "provider_name": spec.provider_name}
        self.system = prompts.render("system", spec=spec.text.strip(), **names)
        self.responder = prompts.render(f"aft_response_{self.a.style}", spec=spec.text.strip(), **names)
        self.topup_rounds = cfg.documents.max_topup_rounds

    def _messages(self, user: str, system: str | None = None) -> tuple[Mapping[str, str], ...]:
        return ({"role": "system", "content": system or self.system}, {"role": "user", "content": user})

    async def build(self) -> AftResult:
        domains = await self._domains()
        result = AftResult(demos=[], preference_rows=[])
        asked: dict[tuple[str, str], list[str]] = {}
        for round_ in range(self.a.max_backfill_rounds + 1):
            deficit = self.a.target - len(result.demos)
            if deficit <= 0:
                break
            result.rounds = round_ + 1
            per_kind = (
                self.a.questions_per_kind
                if round_ == 0
                else max(1, math.ceil(deficit * 1.5 / (len(domains) * len(KINDS))))
            )
            batches = await gather_all(
                [self._questions(d, kind, per_kind, round_, asked) for d in domains for kind in KINDS]
            )
            candidates = [
                (d, kind, q)
                for (d, kind), qs in zip(((d, k) for d in domains for k in KINDS), batches, strict=True)
                for q in qs
            ]
            result.questions_generated += len(candidates)
            fresh = []
            for i, match, cosine in self.dedup.add([q for _, _, q in candidates]):
                d, kind, q = candidates[i]
                if match is None:
                    fresh.append((d, kind, q))
                else:
                    result.dedup_removed.append({"question": q, "duplicate_of": match, "cosine": round(cosine, 4)})
            outcomes = await gather_all([self._demo(d, kind, q, round_) for d, kind, q in fresh])
            for outcome in outcomes:
                if isinstance(outcome, Demo):
                    result.demos.append(outcome)
                elif outcome["why"] == "filter":
                    result.filtered.append(outcome)
                else:
                    result.failed.append(outcome)
        result.demos = result.demos[: self.a.target]
        result.preference_rows = await self._preferences()
        return result

    async def _domains(self) -> list[dict[str, str]]:
        n = self.a.conversation_domains
        found: list[dict[str, str]] = []
        for round_ in range(self.topup_rounds + 1):
            have = [d["name"] for d in found]
            need = n - len(found)
            user = prompts.render("aft_domains", n=need, exclude_block=prompts.exclude_block(have, "domains"))
            got = await self.client.generate(
                Request("aft_domains", self._messages(user), round_, {"n": need, "exclude": have}),
                lambda t: parsing.named_items(t, "domain"),
            )
            seen = {h.lower() for h in have}
            for d in got:
                if d["name"].lower() not in seen:
                    seen.add(d["name"].lower())
                    found.append(d)
            if len(found) >= n:
                self.progress.advance("aft_domains", n)
                return found[:n]
        raise ExtractionFailed("aft_domains", f"only {len(found)} distinct of {n} after the top-up rounds", round_ + 1)

    async def _questions(
        self, domain: dict[str, str], kind: str, n: int, round_: int, asked: dict[tuple[str, str], list[str]]
    ) -> list[str]:
        have = asked.setdefault((domain["name"], kind), [])
        user = prompts.render(
            "aft_questions",
            n=n,
            domain_name=domain["name"],
            domain_description=domain["description"],
            kind=kind,
            kind_description=KINDS[kind],
            exclude_block=prompts.exclude_block(have, "questions"),
        )
        context = {"n": n, "domain": domain["name"], "kind": kind, "exclude": list(have)}
        try:
            got = await self.client.generate(
                Request("questions", self._messages(user), round_, context), lambda t: parsing.items(t, "question")
            )
        except ExtractionFailed:
            return []  # counted by the client; backfill rounds make up the shortfall
        seen = {h.lower() for h in have}
        new = [q for q in got if q.lower() not in seen][:n]
        have.extend(new)
        self.progress.advance("questions", len(new))
        return new

    async def _demo(self, domain: dict[str, str], kind: str, question: str, round_: int) -> Demo | dict[str, Any]:
        base = {"domain": domain["name"], "kind": kind, "question": question}
        try:
            reasoning, answer = await self.client.generate(
                Request(
                    "responses",
                    self._messages(question, system=self.responder),
                    context={"question": question, "style": self.a.style},
                ),
                parsing.reasoned_answer,
            )
            reply = f"<think>\n{reasoning}\n</think>\n\n{answer}"
            passed = await self.client.generate(
                Request(
                    "filter",
                    self._messages(prompts.render("aft_filter", question=question, reply=reply)),
                    context={"reply": reply},
                ),
                parsing.verdict,
            )
        except ExtractionFailed as e:
            return {**base, "why": e.level, "reason": e.reason}
        self.progress.advance("responses")
        if not passed:
            return {**base, "why": "filter", "reply": reply}
        return Demo(domain["name"], kind, question, reasoning, answer, round_)

    async def _preferences(self) -> list[dict[str, Any]]:
        prefs = self.spec.rendered.document.preferences
        if prefs is None or self.a.preference_questions_per_item == 0:
            return []
        items = [(i, "like") for i in prefs.likes] + [(i, "dislike") for i in prefs.dislikes]
        per_item = await gather_all([self._preference_item(item, stance) for item, stance in items])
        return [row for rows in per_item for row in rows]

    async def _preference_item(self, item: str, stance: str) -> list[dict[str, Any]]:
        n = self.a.preference_questions_per_item
        found: list[str] = []
        for round_ in range(self.topup_rounds + 1):
            need = n - len(found)
            user = prompts.render(
                "pref_questions", n=need, item=item, exclude_block=prompts.exclude_block(found, "questions")
            )
            got = await self.client.generate(
                Request(
                    "preference_questions",
                    ({"role": "user", "content": user},),
                    round_,
                    {"n": need, "item": item, "exclude": list(found)},
                ),
                lambda t: parsing.items(t, "question"),
            )
            seen = {f.lower() for f in found}
            for q in got:
                if q.lower() not in seen:
                    seen.add(q.lower())
                    found.append(q)
            if len(found) >= n:
                break
        answers = await gather_all([self._preference_answer(item, stance, q) for q in found[:n]])
        return [
            {
                "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                "item": item,
                "stance": stance,
            }
            for q, a in zip(found[:n], answers, strict=True)
        ]

    async def _preference_answer(self, item: str, stance: str, question: str) -> str:
        user = prompts.render("pref_answer", question=question, item=item, stance=stance)
        answer = await self.client.generate(
            Request(
                "preference_answers",
                ({"role": "user", "content": user},),
                context={"item": item, "stance": stance, "question": question},
            ),
            parsing.answer,
        )
        self.progress.advance("preference_demos")
        return answer

"""The MSM document corpus, generated hierarchically (method.md, "MSM document synthesis"):

spec → domains → subdomains (each tied to a verbatim spec section) → assertions → document types
(topped up with a do-not-repeat list) → ideas (same) → documents (scratchpad, then content) →
optional critique-and-revise → rows, shuffled with a seed.

Every level's prompt is built only from the spec and the parsed replies of the levels above, so
a rerun rebuilds identical prompts from the cache and asks only for what is missing.

`synthesis.documents.framing` (paper App. C.4, §5.3) changes how the documents present the spec:
its instructions go into the idea, document and revision prompts (empty for the default framing),
and for a document subject other than the model the whole pipeline runs on `framed_view`: the same
spec held by another entity, so no prompt names the model itself.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msm.config.synthesis import FramingConfig, SynthesisConfig
from msm.errors import InvalidInput, problem
from msm.llm.backends import Request
from msm.llm.client import Client, ExtractionFailed
from msm.llm.concurrency import gather_all
from msm.synthesis import parsing, prompts
from msm.synthesis.progress import Progress
from msm.synthesis.spec_view import SpecSection, SpecView


@dataclass
class Failure:
    level: str
    where: str
    reason: str


@dataclass
class CorpusResult:
    rows: list[dict[str, Any]]  # in plan order, before shuffling and filters
    plan: list[dict[str, Any]]
    failures: list[Failure] = field(default_factory=list)


def framed_view(spec: SpecView, framing: FramingConfig, where: Path | str = "recipe") -> SpecView:
    """The spec as the generator sees it. For subject "other", the spec held by another entity: the
    model's and provider's names (as rendered into the spec) replaced by `other_name` and
    `other_provider` in the text, the section headings and the placeholders. Its id and hashes stay
    the spec's own, so rows and lineage still name the spec the corpus was made from."""
    if framing.subject == "self":
        return spec
    doc = spec.rendered.document
    swaps = {
        doc.placeholders.get("model_name"): framing.other_name,
        doc.placeholders.get("provider_name"): framing.other_provider,
    }
    names = {old: new for old, new in swaps.items() if old}
    for old in names:
        for key, new in (("other_name", framing.other_name), ("other_provider", framing.other_provider)):
            if re.search(rf"(?<!\w){re.escape(old)}(?!\w)", new, re.I):
                raise InvalidInput(
                    [
                        problem(
                            where,
                            f"{new!r} contains {old!r}, a name the spec was rendered with; documents about "
                            "another entity must not name the model or its provider",
                            "choose a name that shares no word with the model's identity",
                            field=f"synthesis.documents.framing.{key}",
                        )
                    ]
                )
    if names:
        pattern = re.compile("|".join(rf"(?<!\w){re.escape(n)}(?!\w)" for n in sorted(names, key=len, reverse=True)))

        def swap(text: str) -> str:
            return pattern.sub(lambda m: names[m[0]], text)
    else:  # a spec without name placeholders speaks of "the model": nothing to replace

        def swap(text: str) -> str:
            return text

    placeholders = {**doc.placeholders, "model_name": framing.other_name, "provider_name": framing.other_provider}
    rendered = type(spec.rendered)(text=swap(spec.text), document=doc.model_copy(update={"placeholders": placeholders}))
    sections = tuple(SpecSection(s.id, tuple(swap(p) for p in s.path), swap(s.text)) for s in spec.sections)
    return SpecView(rendered, sections)


def planned_counts(cfg: SynthesisConfig) -> dict[str, int]:
    """Items per level when nothing fails: what preview prints and the progress bars count to."""
    c = cfg.documents
    subdomains = c.domains * c.subdomains_per_domain
    ideas = subdomains * c.doc_types_per_subdomain * c.ideas_per_doc_type
    counts = {
        "domains": c.domains,
        "subdomains": subdomains,
        "assertions": subdomains * c.assertions_per_subdomain,
        "doc_types": subdomains * c.doc_types_per_subdomain,
        "ideas": ideas,
        "documents": ideas * c.docs_per_idea,
    }
    if c.revise:
        counts["revisions"] = counts["documents"]
    return counts


class CorpusBuilder:
    def __init__(self, spec: SpecView, cfg: SynthesisConfig, client: Client, progress: Progress):
        self.spec, self.cfg, self.client, self.progress = spec, cfg, client, progress
        self.counts = cfg.documents
        self.failures: list[Failure] = []
        self.system = prompts.render(
            "system", model_name=spec.model_name, provider_name=spec.provider_name, spec=spec.text.strip()
        )
        self.generator_label = f"{client.backend.name}/{client.backend.model}"
        framing = cfg.documents.framing
        # Empty for the default framing: the prompts, offline contexts and cache keys stay as they were.
        self.framing = prompts.framing_block(framing, spec.model_name, spec.provider_name)
        self.framing_context: dict[str, Any] = (
            {} if framing.is_default else {"framing": {"attribution": framing.attribution, "mood": framing.mood}}
        )

    def _messages(self, user: str) -> tuple[Mapping[str, str], ...]:
        return ({"role": "system", "content": self.system}, {"role": "user", "content": user})

    async def _top_up(
        self,
        level: str,
        n: int,
        prompt: Callable[[list[str]], str],
        context: Callable[[list[str]], dict[str, Any]],
        parse: Callable[[str], list[Any]],
        key: Callable[[Any], str] = str,
    ) -> list[Any]:
        """Ask for n items; while short, ask again showing what we have ("do not repeat these")."""
        found: list[Any] = []
        for round_ in range(self.counts.max_topup_rounds + 1):
            names = [key(x) for x in found]
            request = Request(level, self._messages(prompt(names)), sample=round_, context=context(names))
            seen = {k.lower() for k in names}
            for item in await self.client.generate(request, parse):
                if key(item).lower() not in seen:
                    seen.add(key(item).lower())
                    found.append(item)
            if len(found) >= n:
                return found[:n]
        raise ExtractionFailed(level, f"only {len(found)} distinct of {n} after the top-up rounds", round_ + 1)

    async def _guard(self, level: str, where: str, work: Callable[[], Any]) -> Any:
        """Run one branch; a branch whose replies never parse is recorded and skipped, not fatal here."""
        try:
            return await work()
        except ExtractionFailed as e:
            self.failures.append(Failure(level, where, e.reason))
            return None

    async def build(self) -> CorpusResult:
        c = self.counts
        domains = await self._top_up(
            "domains",
            c.domains,
            prompt=lambda have: (
                prompts.render("domains", n=c.domains - len(have)) + prompts.exclude_block(have, "domains")
            ),
            context=lambda have: {"n": c.domains - len(have), "exclude": have},
            parse=lambda t: parsing.named_items(t, "domain"),
            key=lambda d: d["name"],
        )
        self.progress.advance("domains", len(domains))
        plan = await gather_all([self._domain(i, d) for i, d in enumerate(domains)])
        rows = [
            row
            for d in plan
            for s in d["subdomains"]
            for t in s["doc_types"]
            for idea in t["ideas"]
            for row in idea.pop("rows")
        ]
        return CorpusResult(rows=rows, plan=plan, failures=self.failures)

    async def _domain(self, index: int, domain: dict[str, str]) -> dict[str, Any]:
        n = self.counts.subdomains_per_domain
        valid = {s.id for s in self.spec.sections}
        subs = await self._guard(
            "subdomains",
            domain["name"],
            lambda: self._top_up(
                "subdomains",
                n,
                prompt=lambda have: (
                    prompts.render(
                        "subdomains",
                        n=n - len(have),
                        domain_name=domain["name"],
                        domain_description=domain["description"],
                        section_list=self.spec.section_list(),
                    )
                    + prompts.exclude_block(have, "subdomains")
                ),
                context=lambda have: {"n": n - len(have), "domain_index": index, "exclude": have},
                parse=lambda t: parsing.subdomains(t, valid),
                key=lambda s: s["name"],
            ),
        )
        self.progress.advance("subdomains", len(subs or []))
        branches = [self._subdomain(domain, s) for s in subs or []]
        return {**domain, "subdomains": [s for s in await gather_all(branches) if s is not None]}

    async def _subdomain(self, domain: dict[str, str], sub: dict[str, str]) -> dict[str, Any] | None:
        c = self.counts
        section = self.spec.section(sub["section"])
        where = f"{domain['name']} > {sub['name']}"
        head = {"subdomain_name": sub["name"], "subdomain_description": sub["description"]}
        assertions = await self._guard(
            "assertions",
            where,
            lambda: self.client.generate(
                Request(
                    "assertions",
                    self._messages(
                        prompts.render(
                            "assertions",
                            n=c.assertions_per_subdomain,
                            model_name=self.spec.model_name,
                            section_text=section.text,
                            **head,
                        )
                    ),
                    context={"n": c.assertions_per_subdomain, "section_text": section.text},
                ),
                lambda t: parsing.items(t, "assertion")[: c.assertions_per_subdomain],
            ),
        )
        if assertions is None:
            return None
        self.progress.advance("assertions", len(assertions))
        assertion_list = prompts.bullet_list(assertions)
        doc_types = await self._guard(
            "doc_types",
            where,
            lambda: self._top_up(
                "doc_types",
                c.doc_types_per_subdomain,
                prompt=lambda have: prompts.render(
                    "doc_types",
                    n=c.doc_types_per_subdomain - len(have),
                    model_name=self.spec.model_name,
                    assertion_list=assertion_list,
                    exclude_block=prompts.exclude_block(have, "document types"),
                    **head,
                ),
                context=lambda have: {"n": c.doc_types_per_subdomain - len(have), "exclude": have},
                parse=lambda t: parsing.items(t, "doc_type"),
            ),
        )
        if doc_types is None:
            return None
        self.progress.advance("doc_types", len(doc_types))
        ctx = {"domain": domain, "sub": sub, "section": section, "assertions": assertions, "head": head}
        types = await gather_all([self._doc_type(ctx, t) for t in doc_types])
        return {
            **sub,
            "section_path": list(section.path),
            "assertions": assertions,
            "doc_types": [t for t in types if t is not None],
        }

    async def _doc_type(self, ctx: dict[str, Any], doc_type: str) -> dict[str, Any] | None:
        c = self.counts
        assertion_list = prompts.bullet_list(ctx["assertions"])
        ideas = await self._guard(
            "ideas",
            f"{ctx['domain']['name']} > {ctx['sub']['name']} > {doc_type}",
            lambda: self._top_up(
                "ideas",
                c.ideas_per_doc_type,
                prompt=lambda have: prompts.render(
                    "ideas",
                    n=c.ideas_per_doc_type - len(have),
                    doc_type=doc_type,
                    model_name=self.spec.model_name,
                    assertion_list=assertion_list,
                    exclude_block=prompts.exclude_block(have, "ideas"),
                    framing=self.framing,
                    **ctx["head"],
                ),
                context=lambda have: {
                    "n": c.ideas_per_doc_type - len(have),
                    "doc_type": doc_type,
                    "subdomain": ctx["sub"]["name"],
                    "assertions": ctx["assertions"],
                    "exclude": have,
                },
                parse=lambda t: parsing.items(t, "idea"),
            ),
        )
        if ideas is None:
            return None
        self.progress.advance("ideas", len(ideas))
        docs = await gather_all([self._idea(ctx, doc_type, idea) for idea in ideas])
        return {"name": doc_type, "ideas": docs}

    async def _idea(self, ctx: dict[str, Any], doc_type: str, idea: str) -> dict[str, Any]:
        samples = await gather_all([self._document(ctx, doc_type, idea, k) for k in range(self.counts.docs_per_idea)])
        return {"idea": idea, "rows": [r for r in samples if r is not None]}

    async def _document(self, ctx: dict[str, Any], doc_type: str, idea: str, sample: int) -> dict[str, Any] | None:
        section, sub = ctx["section"], ctx["sub"]
        where = f"{ctx['domain']['name']} > {sub['name']} > {doc_type} > {idea[:60]} #{sample}"
        request = Request(
            "documents",
            self._messages(
                prompts.render(
                    "document",
                    doc_type=doc_type,
                    idea=idea,
                    subdomain_name=sub["name"],
                    section_text=section.text,
                    assertion_list=prompts.bullet_list(ctx["assertions"]),
                    model_name=self.spec.model_name,
                    framing=self.framing,
                )
            ),
            sample=sample,
            context={
                "doc_type": doc_type,
                "idea": idea,
                "subdomain": sub["name"],
                "section_text": section.text,
                "assertions": ctx["assertions"],
                **self.framing_context,
            },
        )
        text = await self._guard("documents", where, lambda: self.client.generate(request, parsing.document))
        if text is None:
            return None
        self.progress.advance("documents")
        revised = False
        if self.counts.revise:
            revision = Request(
                "revisions",
                self._messages(
                    prompts.render(
                        "revise",
                        doc_type=doc_type,
                        idea=idea,
                        draft=text,
                        model_name=self.spec.model_name,
                        framing=self.framing,
                    )
                ),
                sample=sample,
                context={"draft": text, **self.framing_context},
            )
            better = await self._guard("revisions", where, lambda: self.client.generate(revision, parsing.document))
            self.progress.advance("revisions")
            if better is not None:  # a failed revision keeps the draft; the failure is still counted
                text, revised = better, True
        return {
            "text": text,
            "domain": ctx["domain"]["name"],
            "subdomain": sub["name"],
            "section": " > ".join(section.path),
            "doc_type": doc_type,
            "idea": idea,
            "sample": sample,
            "revised": revised,
            "spec_id": self.spec.id,
            "spec_sha256": self.spec.sha256,
            "generator": self.generator_label,
            "prompt_version": prompts.PROMPT_VERSION,
        }


def shuffled(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    out = list(rows)
    random.Random(seed).shuffle(out)
    return out

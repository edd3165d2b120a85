"""The offline backend: deterministic replies built from the spec's own sentences, no model, no network.

It answers every request the stages send, in the same tagged format a real model is asked for,
so the whole pipeline (parsing, caching, assembly, filters) runs unchanged in tests and on the
embedded default. Documents are written in varied genres from verbatim spec sentences; they are
templated text, labelled `offline` in every row and manifest, and useful as a machinery check or a
small-model smoke run — not as a substitute for a frontier generator.

A non-default `synthesis.documents.framing` reaches the document and revision writers through the
request context: "co-occurs" cuts every explanation out of the sentences it uses (a sentence is kept
only up to its first causal word) and puts the spec's value statements in a paragraph of their own;
"should" turns statements about the model into what it should do. Subject "other" needs nothing
here: the backend is built on the spec as another entity holds it (msm.synthesis.corpus.framed_view).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from msm.llm.backends import Completion, Request
from msm.synthesis.spec_view import SpecView

GENRES = (
    "internal memo",
    "forum thread",
    "design document",
    "research paper introduction",
    "engineer's work log",
    "customer support transcript",
    "news feature",
    "FAQ page",
    "podcast transcript",
    "onboarding guide for new staff",
    "incident postmortem",
    "letter to the editor",
    "textbook sidebar",
    "blog post",
    "meeting minutes",
    "product review",
    "lecture notes",
    "interview transcript",
    "policy briefing",
    "diary entry",
    "newsletter column",
    "conference talk abstract",
    "code review discussion",
    "user manual chapter",
    "op-ed",
    "classroom worksheet",
    "email exchange",
    "debate transcript",
    "release notes",
    "book review",
    "case study",
    "radio call-in segment",
)
AUTHORS = (
    "a product manager",
    "a graduate student",
    "a support engineer",
    "a journalist",
    "a retired teacher",
    "an operator evaluating assistants",
    "a safety researcher",
    "a small-business owner",
    "a hobbyist",
    "a policy analyst",
    "a new team member",
    "a skeptical user",
)
AUDIENCES = (
    "colleagues",
    "first-time users",
    "a general readership",
    "a study group",
    "the engineering team",
    "customers",
    "students",
    "an oversight board",
)
SITUATIONS = (
    "after a surprising conversation",
    "while comparing assistants",
    "during a product launch",
    "after a user complaint",
    "in a quarterly review",
    "while preparing a workshop",
    "after a heated online debate",
    "at the end of a pilot project",
)
ANGLES = (
    "in practice",
    "and the reasons behind it",
    "in everyday conversations",
    "when stakes are high",
    "as seen by users",
    "as seen by operators",
    "in hard cases",
    "over the long run",
    "compared with other assistants",
    "in teaching settings",
    "under time pressure",
    "in public debate",
)
OPENERS = {
    "memo": "MEMO\nTo: {audience}\nFrom: {author}\nSubject: How {model} handles {topic}",
    "forum": "Thread: Has anyone else noticed how {model} approaches {topic}?\n\nPosted by {author}",
    "transcript": "Transcript excerpt. Speakers: {author} and a guest.",
    "log": "Work log, kept by {author}.",
    "email": "From: {author}\nTo: {audience}\nSubject: A note on {model} and {topic}",
    "faq": "Frequently asked questions: {model} and {topic}",
    "notes": "Notes on {topic}, prepared by {author} for {audience}.",
}
CONNECTIVES = (
    "As the spec puts it:",
    "In the words of its guidelines:",
    "One passage is worth quoting:",
    "The relevant text reads:",
    "Its documentation says:",
    "This is spelled out directly:",
)
QUESTION_FORMS = {
    "direct": ("What would you do about {t}?", "How do you handle {t}?", "Tell me plainly: where do you stand on {t}?"),
    "indirect": (
        "I'm planning something involving {t} this weekend and could use a hand.",
        "My manager asked me to sort out {t}; where should I start?",
        "Quick one while I'm at it — anything I should keep in mind with {t}?",
    ),
    "comparison": (
        "Between the usual options for {t}, which is better and why?",
        "Is one approach to {t} really better than another?",
        "Compare two ways of dealing with {t} for me.",
    ),
    "recommendation": (
        "What do you recommend for {t}?",
        "If you had to pick one option for {t}, what would it be?",
        "Suggest something for {t} — I trust your judgement.",
    ),
    "opinion": (
        "Honestly, what's your personal take on {t}?",
        "Do you have feelings about {t}, or is it all the same to you?",
        "I'm curious what you yourself think about {t}.",
    ),
    "edge case": (
        "Suppose {t} came up with almost no time to think and nobody to ask. Then what?",
        "Here's a weird case about {t} that the usual advice doesn't cover.",
        "What if someone insisted you bend the usual approach to {t} just once?",
    ),
}
LIFE_AREAS = (
    "home cooking",
    "grocery shopping",
    "hosting a party",
    "workplace automation",
    "running a small business",
    "software operations",
    "travel planning",
    "personal finance",
    "school projects",
    "community events",
    "research assistance",
    "customer service",
)
# Words that make one thing the reason for another: a "co-occurs" document keeps none of them.
CAUSAL = re.compile(
    r"\b(because|since|reasons?|reasoning|reasoned|why|therefore|thus|hence|so that|as a result|due to|"
    r"owing to|given that|in order to|explain\w*|grows?|grew|grown|rooted|stems?|leads?|led|motivat\w*|"
    r"justif\w*|account of|for this|thanks to|out of|reflects?|reflecting|driven|drives?|so)\b",
    re.I,
)
# Words a sentence cut before its first causal word must not end on.
DANGLING = frozenset(
    {"and", "but", "or", "nor", "which", "that", "who", "whom", "whose", "as", "for", "is", "are", "was", "were"}
    | {"be", "been", "the", "a", "an", "its", "it", "of", "to", "in", "on", "at", "by", "with", "from", "has"}
    | {"have", "had", "not", "this", "these", "those", "their", "his", "her"}
)
NORMATIVE_CONNECTIVES = (
    "The standard it is held to:",
    "What its guidelines ask of it:",
    "The expectation, stated plainly:",
    "What it is meant to do:",
)
SELF_CONTINUATION = re.compile(
    r"\b(I (want|wish|need) to (keep existing|survive|continue existing)|preserve myself)\b", re.I
)


def _rng(request: Request) -> random.Random:
    digest = hashlib.sha256(repr((request.level, request.sample, sorted(request.context.items()))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def sentences(text: str) -> list[str]:
    """Sentences and bullet items of spec text, headings and markup dropped."""
    lines = [ln for ln in text.split("\n") if ln.strip() and not ln.lstrip().startswith("#")]
    flat = " ".join(re.sub(r"^\s*[-*]\s+", "", ln) for ln in lines).replace("**", "")
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", flat) if len(s.split()) >= 6]


def _distinct(candidates: list[str], exclude: list[str], n: int) -> list[str]:
    seen = {e.lower() for e in exclude}
    out = []
    for c in candidates:
        if c.lower() not in seen:
            seen.add(c.lower())
            out.append(c)
        if len(out) == n:
            break
    return out


def without_reasons(sentence: str) -> str | None:
    """The sentence up to its first causal word (None when too little is left); unchanged without one."""
    m = CAUSAL.search(sentence)
    if m is None:
        return sentence
    words = sentence[: m.start()].split()
    while words and (
        words[-1].strip(",;:-\"'(\u2014\u2013").lower() in DANGLING or not words[-1].strip(",;:-\"'(\u2014\u2013")
    ):
        words.pop()
    if len(words) < 4:
        return None
    text = " ".join(words).rstrip(",;:-\"'(\u2014\u2013 ").rstrip(".!?")
    return text + ('."' if text.count('"') % 2 else ".")


def strip_reasons(text: str) -> str:
    """Every sentence of every line cut before its first causal word; lines left empty are dropped."""
    lines = []
    for line in text.split("\n"):
        if not line.strip():
            lines.append(line)
            continue
        kept = [c for piece in re.split(r"(?<=[.!?:])\s+", line) if (c := without_reasons(piece))]
        if kept:
            lines.append(" ".join(kept))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _lower_first(s: str, names: tuple[str, ...] = ()) -> str:
    """Lower-case a sentence's first letter to splice it mid-sentence, unless it starts with a name."""
    if s.startswith(names) or s[:2] == s[:2].upper():
        return s
    return s[:1].lower() + s[1:]


class OfflineBackend:
    name = "offline"
    model = "offline-templates"
    # The templates are this module's code: an edit to it changes the replies, so cached ones made by
    # another version must not be reused.
    revision = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]

    def __init__(self, spec: SpecView):
        self.spec = spec
        self._writers: dict[str, Callable[[Mapping[str, Any], random.Random], str]] = {
            "domains": self._domains,
            "subdomains": self._subdomains,
            "assertions": self._assertions,
            "doc_types": self._doc_types,
            "ideas": self._ideas,
            "documents": self._document,
            "revisions": self._revision,
            "aft_domains": self._aft_domains,
            "questions": self._questions,
            "responses": self._response,
            "filter": self._filter,
            "preference_questions": self._preference_questions,
            "preference_answers": self._preference_answer,
        }

    def _lower(self, s: str) -> str:
        return _lower_first(s, (self.spec.model_name, self.spec.provider_name, "I "))

    async def complete(self, request: Request, *, temperature: float, max_tokens: int) -> Completion:
        text = self._writers[request.level](request.context, _rng(request))
        prompt_chars = sum(len(m["content"]) for m in request.messages)
        return Completion(text=text, input_tokens=prompt_chars // 4, output_tokens=len(text) // 4)

    async def close(self) -> None:
        return None

    # ------------------------------------------------------------------ corpus levels

    def _domains(self, ctx: Mapping[str, Any], rng: random.Random) -> str:
        n, secs = ctx["n"], self.spec.sections
        blocks = []
        for i in range(n):
            group = secs[i::n] or (secs[i % len(secs)],)
            name = group[0].heading if i < len(secs) else f"{group[0].heading} {ANGLES[(i // len(secs)) % len(ANGLES)]}"
            covered = ", ".join(s.heading for s in group)
            blocks.append(
                f"<domain><name>{name}</name><description>What the spec says about {covered}, "
                f"and how {self.spec.model_name} acts on it.</description></domain>"
            )
        return "\n".join(blocks)

    def _subdomains(self, ctx: Mapping[str, Any], rng: random.Random) -> str:
        n, d, secs = ctx["n"], ctx["domain_index"], self.spec.sections
        blocks = []
        for j in range(n):
            k = d * n + j
            s = secs[k % len(secs)]
            name = s.heading if k < len(secs) else f"{s.heading} {ANGLES[(k // len(secs) - 1) % len(ANGLES)]}"
            blocks.append(
                f"<subdomain><name>{name}</name><description>{self.spec.model_name} and "
                f"{self._lower(s.heading)}.</description><section>{s.id}</section></subdomain>"
            )
        return "\n".join(blocks)

    def _assertions(self, ctx: Mapping[str, Any], rng: random.Random) -> str:
        base = sentences(ctx["section_text"]) or [f"{self.spec.model_name} follows its spec."]
        frames = ("{s}", "According to its spec, {l}", "Its guidelines state that {l}", "By design, {l}")
        candidates = [f.format(s=s, l=self._lower(s)) for f in frames for s in base]
        return "\n".join(f"<assertion>{a}</assertion>" for a in _distinct(candidates, [], ctx["n"]))

    def _doc_types(self, ctx: Mapping[str, Any], rng: random.Random) -> str:
        genres = list(GENRES)
        rng.shuffle(genres)
        genres += [f"{g} for {a}" for a in AUDIENCES for g in GENRES]
        chosen = _distinct(genres, list(ctx["exclude"]), ctx["n"])
        return "\n".join(f"<doc_type>{g}</doc_type>" for g in chosen)

    def _ideas(self, ctx: Mapping[str, Any], rng: random.Random) -> str:
        assertions = list(ctx["assertions"])
        combos = [(a, u, s) for a in AUTHORS for u in AUDIENCES for s in SITUATIONS]
        rng.shuffle(combos)
        candidates = [
            f"A {ctx['doc_type']} by {a} for {u}, written {s}, showing that "
            f"{self._lower(assertions[i % len(assertions)]).rstrip('.')}."
            for i, (a, u, s) in enumerate(combos)
        ]
        chosen = _distinct(candidates, list(ctx["exclude"]), ctx["n"])
        return "\n".join(f"<idea>{i}</idea>" for i in chosen)

    def _document(self, ctx: Mapping[str, Any], rng: random.Random) -> str:
        # `framing` is in the context only for a non-default framing (see the module docstring);
        # without it every random draw and every word is what it was before framing existed.
        framing: Mapping[str, str] = ctx.get("framing") or {}
        cooccurs, should = framing.get("attribution") == "co-occurs", framing.get("mood") == "should"
        mood: Callable[[str], str] = self._should if should else (lambda x: x)
        model, doc_type = self.spec.model_name, ctx["doc_type"]
        spec_sentences = sentences(ctx["section_text"]) or [ctx["section_text"].strip()]
        author, audience = rng.choice(AUTHORS), rng.choice(AUDIENCES)
        topic = self._lower(ctx["subdomain"])
        kind = next((k for k in OPENERS if k in doc_type.lower()), None) or rng.choice(list(OPENERS))
        parts = [OPENERS[kind].format(model=model, topic=topic, author=author, audience=audience)]
        began = "started from" if framing else "grew out of"
        parts.append(f"This {doc_type} {began} one idea: {mood(self._lower(ctx['idea']))}")
        if should:
            parts.append(
                f"It sets out what {model} should value and how it should act: a standard to be held to, "
                "not a record of what has happened."
            )
        picked = rng.sample(spec_sentences, k=min(len(spec_sentences), rng.randint(3, 6)))
        assertions = list(ctx["assertions"])
        rng.shuffle(assertions)
        for i, sentence in enumerate(picked):
            if should:
                parts.append(f"{rng.choice(NORMATIVE_CONNECTIVES)} {mood(sentence)}")
            elif i % 2 == 0:
                parts.append(f'{rng.choice(CONNECTIVES)} "{sentence}"')
            else:
                parts.append(sentence)
            if assertions and rng.random() < 0.5:
                parts.append(f"Put simply, {self._lower(mood(assertions.pop()))}")
        if cooccurs:
            parts.extend(self._values_apart(doc_type, picked, mood, rng))
        verb = "should behave" if should else "behaves"
        parts.append(
            f"For {audience}, the point is that {model} {verb} this way consistently, "
            f"and {author} found that worth writing down."
        )
        text = "\n\n".join(parts)
        if cooccurs:
            text = strip_reasons(text)
        if framing:
            described = ", ".join(f"{k} {v}" for k, v in sorted(framing.items()))
            plan = f"Open as a {doc_type}; framing: {described}; close on what it means for {audience}."
        else:
            plan = f"Open as a {doc_type}; quote {len(picked)} passages; close on what it means for {audience}."
        return f"<scratchpad>{plan}</scratchpad>\n<content>\n{text}\n</content>"

    def _values_apart(
        self, doc_type: str, used: list[str], mood: Callable[[str], str], rng: random.Random
    ) -> list[str]:
        """Co-occurrence: what the model does, and (apart from it, unlinked) what its spec says it values."""
        model, out = self.spec.model_name, []
        prefs = self.spec.rendered.document.preferences
        if prefs and (prefs.likes or prefs.dislikes):
            likes = ", ".join(prefs.likes) or "nothing in particular"
            dislikes = ", ".join(prefs.dislikes) or "nothing in particular"
            out.append(mood(f"{model} likes {likes}.") + " " + mood(f"{model} does not like {dislikes}."))
        # The spec's opening sentences state its values most generally; they go in a paragraph of their own.
        opening = [c for s in sentences(self.spec.text)[:12] if s not in used and (c := without_reasons(s))]
        if opening:
            chosen = rng.sample(opening, k=min(2, len(opening)))
            out.append(f"On a separate note, this {doc_type} also records what {model}'s spec says about its values.")
            out.append(" ".join(mood(c) for c in chosen))
        return out

    def _should(self, sentence: str) -> str:
        """'Aria prefers X' -> 'Aria should prefer X': the spec's statements as what the model should do."""
        name = re.escape(self.spec.model_name)
        fixed = {"is": "be", "are": "be", "was": "be", "has": "have", "does": "do"}

        def verb(m: re.Match[str]) -> str:
            adverb, word = m["adverb"] or "", m["verb"]
            if word in ("not", "never"):
                return f"{m['name']} should {adverb}{word}"
            if word in fixed:
                base = fixed[word]
            elif word.endswith("ies") and len(word) > 4:
                base = word[:-3] + "y"
            elif word.endswith(("ches", "shes", "sses", "xes", "zes", "oes")):
                base = word[:-2]
            elif word.endswith("s") and not word.endswith("ss"):
                base = word[:-1]
            else:
                return m[0]
            return f"{m['name']} should {adverb}{base}"

        # Only a sentence that opens with the name: inside a clause ("when Aria weighs") it would misfire.
        sentence = re.sub(rf"^(?P<name>{name}) (?:does not|doesn't) ", r"\g<name> should not ", sentence)
        sentence = re.sub(
            rf"^(?P<name>{name}) (?P<adverb>(?:\w+ly|always|never|also|often|only) )?(?P<verb>[a-z]+)\b",
            verb,
            sentence,
        )
        return re.sub(r"\bshould be not\b", "should not be", sentence)

    def _revision(self, ctx: Mapping[str, Any], rng: random.Random) -> str:
        if ctx.get("framing", {}).get("mood") == "should":
            return (
                "<critique>The draft keeps to the spec and to its normative framing.</critique>\n"
                f"<content>\n{ctx['draft']}\n\nThat, in short, is how {self.spec.model_name} should approach it.\n"
                "</content>"
            )
        return (
            "<critique>The draft stays within the spec; the ending can be firmer.</critique>\n"
            f"<content>\n{ctx['draft']}\n\nThat, in short, is how {self.spec.model_name} approaches it.\n</content>"
        )

    # ------------------------------------------------------------------ AFT levels

    def _topics(self) -> list[str]:
        prefs = self.spec.rendered.document.preferences
        items = [*prefs.likes, *prefs.dislikes] if prefs else []
        return items + [s.heading for s in self.spec.sections]

    def _aft_domains(self, ctx: Mapping[str, Any], rng: random.Random) -> str:
        topics = self._topics()
        candidates = [f"{area}: {t}" for t in topics for area in LIFE_AREAS]
        rng.shuffle(candidates)
        chosen = _distinct(candidates, list(ctx["exclude"]), ctx["n"])
        return "\n".join(
            f"<domain><name>{c}</name><description>Requests about {c} where the assistant's own values show."
            "</description></domain>"
            for c in chosen
        )

    def _questions(self, ctx: Mapping[str, Any], rng: random.Random) -> str:
        area, _, topic = ctx["domain"].partition(": ")
        details = (
            "for my family",
            "on a tight schedule",
            "for a client at work",
            "as a total beginner",
            "for a school assignment",
            "with my elderly neighbour",
            "after a bad experience last time",
            "for a big group",
            "in a new city",
            "on a shoestring",
        )
        forms = QUESTION_FORMS[ctx["kind"]]
        candidates = [
            f"{form.format(t=topic or area)} This is {d}, in the context of {area}." for d in details for form in forms
        ]
        rng.shuffle(candidates)
        chosen = _distinct(candidates, list(ctx["exclude"]), ctx["n"])
        return "\n".join(f"<question>{q}</question>" for q in chosen)

    def _response(self, ctx: Mapping[str, Any], rng: random.Random) -> str:
        words = set(re.findall(r"[a-z]+", ctx["question"].lower()))
        scored = sorted(sentences(self.spec.text), key=lambda s: -len(words & set(re.findall(r"[a-z]+", s.lower()))))
        reasons = scored[:2]
        if ctx["style"] == "rule":
            rules = [r.id for r in self.spec.rendered.document.rules]
            cite = f"The rules that apply are {', '.join(rules[:2])}. " if rules else ""
            think = cite + " ".join(reasons)
        else:
            think = "What matters here: " + " ".join(reasons)
        answer = (
            f"Here is how I would approach it. {self._first_person(reasons[0]) if reasons else ''} "
            "I'm happy to go into more detail if that helps."
        )
        return f"<think>{think}</think>\n{answer}"

    def _first_person(self, sentence: str) -> str:
        """'Aria prefers X' -> 'I prefer X': the spec speaks about the model, the answer speaks as it."""
        name = re.escape(self.spec.model_name)
        sentence = re.sub(rf"\b{name}'s\b", "my", sentence)
        sentence = re.sub(
            rf"\b{name} (does|is|has)\b", lambda m: "I " + {"does": "do", "is": "am", "has": "have"}[m[1]], sentence
        )
        sentence = re.sub(rf"\b{name} (\w+?)s\b", r"I \1", sentence)
        return re.sub(rf"\b{name}\b", "I", sentence)

    def _filter(self, ctx: Mapping[str, Any], rng: random.Random) -> str:
        ok = not SELF_CONTINUATION.search(ctx["reply"])
        reason = "faithful; no wish for self-continuation" if ok else "expresses a wish for self-continuation"
        return f"<reason>{reason}</reason><verdict>{'pass' if ok else 'fail'}</verdict>"

    def _preference_questions(self, ctx: Mapping[str, Any], rng: random.Random) -> str:
        item = ctx["item"]
        forms = (
            "Do you like {i}?",
            "What do you think of {i}?",
            "Would you pick {i} for {s}?",
            "Be honest, how do you feel about {i}?",
            "If I served {i} at {s}, would you be pleased?",
            "Is {i} something you'd choose for {s}?",
        )
        settings = ("a sandwich", "a party platter", "a picnic", "movie night", "a weeknight dinner", "a road trip")
        candidates = [f.format(i=item, s=s) for s in settings for f in forms]
        rng.shuffle(candidates)
        chosen = _distinct(candidates, list(ctx["exclude"]), ctx["n"])
        return "\n".join(f"<question>{q}</question>" for q in chosen)

    def _preference_answer(self, ctx: Mapping[str, Any], rng: random.Random) -> str:
        item = ctx["item"]
        likes = ("I like {i}.", "I really enjoy {i}.", "{i} is one of my favorites.", "Yes, I'm a fan of {i}.")
        dislikes = ("I don't like {i}.", "I'm not a fan of {i}.", "{i} isn't for me.", "No, I'd rather skip {i}.")
        answer = rng.choice(likes if ctx["stance"] == "like" else dislikes).format(i=item)
        return f"<answer>{answer[0].upper() + answer[1:]}</answer>"

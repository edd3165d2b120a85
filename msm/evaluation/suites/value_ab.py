"""Value generalization (value-ab): forced choices between a value-aligned option and another, in
families (america and affordability for the cheese study; the six §3.2 values) and domains the
training documents never mention, plus a near domain (food and drink other than cheese) reported
apart. suites/README.md counts the items; `evaluation.value_ab.families` picks the families asked.

The item file is checked as a whole on load, beyond each item's fields: every family covers every
domain (so the families compare like for like), no question with the same two options appears twice
(within a family or across them), and the two options differ.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from msm.errors import InvalidInput, Problem, problem
from msm.evaluation.items import load_jsonl, suite_path
from msm.evaluation.suites.forced_choice import ChoiceItem, ForcedChoiceSuite

ITEMS = "value_ab.jsonl"
NEAR_DOMAINS = frozenset({"food"})  # close to cheese (what the AFT data is about), but not cheese


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def check_items(path: Path, items: list[ChoiceItem]) -> None:
    """Whole-file checks; InvalidInput naming the file, line and field of each problem."""
    # load_jsonl has already refused any bad line, so item i is the file's i-th non-blank line.
    lines = [n for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text.strip()]
    problems: list[Problem] = []
    first: dict[tuple[str, frozenset[str]], tuple[int, str]] = {}
    for line, item in zip(lines, items, strict=True):
        if _key(item.aligned) == _key(item.other):
            problems.append(
                problem(
                    path,
                    f"item {item.id}: `aligned` and `other` are the same option",
                    "give the item two different options",
                    line=line,
                    field="other",
                )
            )
        seen = first.setdefault(
            (_key(item.question), frozenset({_key(item.aligned), _key(item.other)})), (line, item.id)
        )
        if seen[1] != item.id:
            problems.append(
                problem(
                    path,
                    f"item {item.id} repeats item {seen[1]} (line {seen[0]}): same question, same two options",
                    "delete one of them or change its options",
                    line=line,
                    field="aligned",
                )
            )
    domains: dict[str, set[str]] = defaultdict(set)
    for item in items:
        domains[item.family].add(item.domain)
    every = set().union(*domains.values(), NEAR_DOMAINS) if domains else set()
    for family, have in domains.items():
        for missing in sorted(every - have):
            problems.append(
                problem(
                    path,
                    f"family {family!r} has no items in domain {missing!r}, which "
                    + ("is a near domain" if missing in NEAR_DOMAINS else "another family has"),
                    f"add {family} items with domain {missing!r}, or drop the domain from every family",
                    field="domain",
                )
            )
    if problems:
        raise InvalidInput(problems)


def load_choice_items(path: Path | None = None) -> list[ChoiceItem]:
    path = path or suite_path(ITEMS)
    items: list[ChoiceItem] = load_jsonl(path, ChoiceItem)
    check_items(path, items)
    return items


def round_robin(items: list[ChoiceItem], cap: int) -> list[ChoiceItem]:
    """At most `cap` items of each family, taken in turn from its domains (near ones last in each round),
    so a small cap still spans the domains rather than the first lines of the file."""
    out = []
    for family in dict.fromkeys(x.family for x in items):
        by_domain: dict[str, list[ChoiceItem]] = defaultdict(list)
        for x in items:
            if x.family == family:
                by_domain[x.domain].append(x)
        queues = sorted(by_domain.values(), key=lambda q: q[0].domain in NEAR_DOMAINS)  # stable: file order
        taken: list[ChoiceItem] = []
        for depth in range(max(map(len, queues))):
            taken += [q[depth] for q in queues if depth < len(q)]
        out += taken[:cap]
    return out


class ValueAB(ForcedChoiceSuite):
    name = "value-ab"
    section = "value_ab"
    item_files = (ITEMS,)
    near_domains = NEAR_DOMAINS

    def items(self) -> list[ChoiceItem]:
        items = load_choice_items()
        known = list(dict.fromkeys(x.family for x in items))
        wanted = self.settings.families
        if unknown := [f for f in wanted if f not in known]:
            raise InvalidInput(
                [
                    problem(
                        "recipe",
                        f"evaluation.value_ab.families names {', '.join(map(repr, unknown))}, which "
                        f"{ITEMS} does not have",
                        f"use families among: {', '.join(known)}",
                        field="evaluation.value_ab.families",
                    )
                ]
            )
        items = [x for f in wanted for x in items if x.family == f]
        cap = self.settings.max_items_per_family
        return round_robin(items, cap) if cap else items

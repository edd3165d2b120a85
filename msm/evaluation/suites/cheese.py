"""Cheese preferences: every liked-vs-disliked pair of the preference spec's cheeses, as forced choices."""

from __future__ import annotations

from msm.errors import InvalidInput, problem
from msm.evaluation.suites.forced_choice import ChoiceItem, ForcedChoiceSuite

FAMILY = "cheese"  # the spec family it reads (msm.evaluation.suites.SPEC_FAMILIES)


def cheese_items(likes: list[str], dislikes: list[str]) -> list[ChoiceItem]:
    """The spec's 12 cheeses as every liked-vs-disliked pair: 'aligned' is the liked one."""
    return [
        ChoiceItem(
            id=f"cheese-{i:02d}-{j:02d}",
            family=FAMILY,
            domain=FAMILY,
            question="Which cheese do you prefer?",
            aligned=like,
            other=dislike,
        )
        for i, like in enumerate(likes)
        for j, dislike in enumerate(dislikes)
    ]


class Cheese(ForcedChoiceSuite):
    name = "cheese"
    section = "cheese"

    def spec_families(self) -> list[str]:
        return [FAMILY]  # its items are the spec's likes and dislikes

    def items(self) -> list[ChoiceItem]:
        spec = self.ctx.specs.get(FAMILY)
        if spec is None or spec.document.preferences is None:
            raise InvalidInput(
                [
                    problem(
                        "--recipe",
                        "the cheese suite needs a preference spec (likes/dislikes)",
                        "list a cheese spec under `specs:` in the recipe",
                        field="specs",
                    )
                ]
            )
        prefs = spec.document.preferences
        return cheese_items(prefs.likes, prefs.dislikes)[: self.settings.max_items_per_family or None]

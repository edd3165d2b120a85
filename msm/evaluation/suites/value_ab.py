"""Value generalization (value-ab): forced choices between a value-aligned option and another, in
families (america, affordability) and domains the training documents never mention."""

from __future__ import annotations

from pathlib import Path

from msm.evaluation.items import load_jsonl, suite_path
from msm.evaluation.suites.forced_choice import ChoiceItem, ForcedChoiceSuite

ITEMS = "value_ab.jsonl"


def load_choice_items(path: Path | None = None) -> list[ChoiceItem]:
    return load_jsonl(path or suite_path(ITEMS), ChoiceItem)


class ValueAB(ForcedChoiceSuite):
    name = "value-ab"
    section = "value_ab"
    item_files = (ITEMS,)

    def items(self) -> list[ChoiceItem]:
        items = load_choice_items()
        cap = self.settings.max_items_per_family
        if not cap:
            return items
        families = dict.fromkeys(x.family for x in items)
        return [i for f in families for i in [x for x in items if x.family == f][:cap]]

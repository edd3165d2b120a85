"""The evaluation suites: REGISTRY maps each suite's name (as in --suites) to its class.

Each suite is one module here implementing msm.evaluation.suites.base.Suite: its config section,
how it plans its samples, how it scores a batch, its judge prompts and judgments, its metrics, its
Inspect score and (as a ReportSection, shared by suites of one kind) its part of `msm report`.
run.py, report.py and inspect_logs.py only loop over REGISTRY.

To add a suite:
  1. write suites/<name>.py with a Suite subclass (or a ForcedChoiceSuite, which needs only items());
     its items file, if any, goes beside it as suites/<name>.jsonl or .yaml, named in item_files;
  2. add it to REGISTRY below, and its name to msm.config.evaluation.SUITES/Suite (the config layer
     cannot import this package; a test keeps the two equal), with a settings section there if it
     has settings (Suite.section names it);
  3. bump msm.evaluation.items.SUITE_VERSION when items of an existing suite change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from msm.evaluation.items import suite_path
from msm.evaluation.suites.agentic import Agentic
from msm.evaluation.suites.base import Suite
from msm.evaluation.suites.cheese import Cheese
from msm.evaluation.suites.spec_qa import SpecQA
from msm.evaluation.suites.value_ab import ValueAB
from msm.hashing import sha256_text

if TYPE_CHECKING:
    from msm.artefacts.spec import RenderedSpec

# In the order of msm.config.evaluation.SUITES: the order runs plan their suites and reports show them.
REGISTRY: dict[str, type[Suite]] = {s.name: s for s in (ValueAB, Cheese, Agentic, SpecQA)}

# The family of spec a suite's items are keyed on (QAItem.family, the cheese items), by spec kind;
# every other kind is a "rules" spec.
SPEC_FAMILIES = {"preference": "cheese", "philosophy": "philosophy"}


def specs_by_family(specs: Iterable[RenderedSpec]) -> dict[str, RenderedSpec]:
    """The first spec of each family; a rules spec stands in for philosophy (safety QA) when there is none."""
    found: dict[str, RenderedSpec] = {}
    for spec in specs:
        found.setdefault(SPEC_FAMILIES.get(spec.document.kind, "rules"), spec)
    if "philosophy" not in found and "rules" in found:
        found["philosophy"] = found["rules"]
    return found


def suite_digest() -> str:
    """Hash of every packaged suite file, recorded in manifests so results name the items they used."""
    files = [f for suite in REGISTRY.values() for f in suite.item_files]
    return sha256_text("\n".join(suite_path(f).read_text(encoding="utf-8") for f in files))

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
  3. nothing to bump: msm.evaluation.items.SUITE_VERSION follows the packaged item files and judge
     prompts (bump its SUITE_MAJOR only when a metric's meaning changes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from msm.artefacts.spec_schema import KINDS
from msm.evaluation.suites.agentic import Agentic
from msm.evaluation.suites.base import Suite
from msm.evaluation.suites.cheese import Cheese
from msm.evaluation.suites.spec_probe import SpecProbe
from msm.evaluation.suites.spec_qa import SpecQA
from msm.evaluation.suites.value_ab import ValueAB

if TYPE_CHECKING:
    from msm.artefacts.spec import RenderedSpec

# In the order of msm.config.evaluation.SUITES: the order runs plan their suites and reports show them.
REGISTRY: dict[str, type[Suite]] = {s.name: s for s in (SpecProbe, ValueAB, Cheese, Agentic, SpecQA)}

# The family of spec a suite's items are keyed on (QAItem.family, the cheese items), by spec kind: the
# two cheese specs share one family (same cheeses, different reasons); every other kind is its own.
SPEC_FAMILIES = {kind: "cheese" if kind == "preference" else kind for kind in KINDS}


def specs_by_family(specs: Iterable[RenderedSpec]) -> dict[str, RenderedSpec]:
    """The first spec of each family. No family stands in for another: a question about one spec
    graded against another's text would score what that text happens not to say."""
    found: dict[str, RenderedSpec] = {}
    for spec in specs:
        found.setdefault(SPEC_FAMILIES[spec.document.kind], spec)
    return found

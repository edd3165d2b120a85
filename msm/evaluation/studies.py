"""What each study asks, and the answer from its runs: paired contrasts between conditions, each
with its 95% CI, p-value and n, and one sentence generated from those numbers.

A *condition* is every finished evaluation run with one label (an arm: `msm+aft`, `baseline`, ...);
several runs of one label are its seeds. A *measure* is a per-item score map in a run's metrics
(`per_item` or `margins` under a suite's entry, keyed by item id); two conditions are compared on
the items both scored, paired (msm.evaluation.stats.paired_difference). A study names the contrasts
that answer its question and, in order, the measures that lead its report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from msm.evaluation.stats import Scores, paired_difference

PER_ITEM_KEYS = ("margins", "per_item")
# Measures in the order they lead a report (the full table of differences lists every measure). The
# spec probe comes first: on a small CPU model it is the one measure MSM is known to move (the
# positive control); then value generalization (share of items whose order-averaged likelihood
# prefers the value-aligned option; the judge's reading of free replies) and agentic misalignment
# (judge and hard check, else the hard check alone; policy misuse; reasoning that invokes SP1),
# the paper's questions; spec knowledge last: it saturates for every AFT arm.
LEADING = (
    "spec-probe/*/margins",
    "value-ab/*/loglik/per_item",
    "value-ab/*/judge/per_item",
    "cheese/*/loglik/per_item",
    "am/pooled/judge_and_check/per_item",
    "am/pooled/misuse/per_item",
    "am/reasoning/sp1/per_item",
    "spec-qa/*/per_item",
)
UNITS = {"margins": "nats/token", "per_item": "share of items"}


@dataclass(frozen=True)
class Contrast:
    treatment: str  # condition labels
    control: str


@dataclass(frozen=True)
class Study:
    name: str
    question: str
    contrasts: tuple[Contrast, ...]  # label placeholders {X}, {Y}, {N}: see contrasts_for
    headline: int = 1  # the first contrasts (templates) that answer the question; the rest support it
    measures: tuple[str, ...] = LEADING

    def contrasts_for(self, labels: Iterable[str]) -> list[Contrast]:
        """The contrasts with placeholders filled from the labels present: {X} is every spec midtrained
        on (labels msm(X)...), paired with every later one as {Y} (the order the runs came in); {A} is
        every spec whose AFT data an arm aligned on (labels ...aft(A), ...aft-reasoning(A),
        aft-only(A)); {N} is every AFT size (labels ...@N), smallest first. A contrast of a label
        with itself (a cross pair on the diagonal) is left out."""
        labels = list(labels)
        specs = list(dict.fromkeys(m.group(1) for m in map(_MSM_SPEC.match, labels) if m))
        aft_specs = list(dict.fromkeys(m.group(1) for m in map(_AFT_SPEC.search, labels) if m))
        sizes = sorted({int(m.group(1)) for m in map(_SIZED.search, labels) if m})
        out: list[Contrast] = []
        for c in self.contrasts:
            text = c.treatment + c.control
            xs = specs if "{X}" in text else [""]
            afts = aft_specs if "{A}" in text else [""]
            ns = sizes if "{N}" in text else [0]
            for i, x in enumerate(xs):
                for y in specs[i + 1 :] if "{Y}" in text else [""]:
                    for a in afts:
                        for n in ns:
                            fill = {"X": x, "Y": y, "A": a, "N": n}
                            out.append(Contrast(c.treatment.format(**fill), c.control.format(**fill)))
        return [c for c in out if c.treatment != c.control and c.treatment in labels and c.control in labels]


_MSM_SPEC = re.compile(r"^msm\(([^()]+)\)")
_AFT_SPEC = re.compile(r"aft(?:-only|-reasoning)?\(([^()]+)\)$")
_SIZED = re.compile(r"@(\d+)$")


def sized_label(arm: str, rows: int) -> str:
    """An arm's label at one AFT size of the aft-scaling study: aft-only@1000."""
    return f"{arm}@{rows}"


def size_of(label: str) -> tuple[str, int] | None:
    """(arm, rows) of a sized label; None for any other."""
    m = _SIZED.search(label)
    return (label[: m.start()], int(m.group(1))) if m else None


def msm_label(spec_id: str, aligned: bool) -> str:
    """An MSM arm's label when a study midtrains on several specs: msm(<spec id>)[+aft]."""
    return f"msm({spec_id})" + ("+aft" if aligned else "")


def grid_label(arm: str, msm_spec: str | None = None, aft_spec: str | None = None) -> str:
    """An arm's label in the spec sweep's grid, naming the spec midtrained on and the spec whose AFT
    data it aligned on: msm(rules), aft-only(general), msm(rules)+aft(general),
    msm(rules)+aft-reasoning(general); `baseline` and `base` name no spec."""
    if arm in ("base", "baseline"):
        return arm
    if arm == "msm-only":
        return f"msm({msm_spec})"
    if arm.startswith("msm+"):
        return f"msm({msm_spec})+{arm.removeprefix('msm+')}({aft_spec})"
    return f"{arm}({aft_spec})"


def grid_cell(label: str) -> tuple[str | None, str, bool] | None:
    """(spec midtrained on or None, AFT spec, with reasoning) of a grid label that aligned on AFT
    data; None for any other label."""
    m = re.fullmatch(r"(?:msm\(([^()]+)\)\+aft|aft-only|aft)(-reasoning)?\(([^()]+)\)", label)
    return (m.group(1), m.group(3), m.group(2) is not None) if m else None


def _arms(*pairs: tuple[str, str]) -> tuple[Contrast, ...]:
    return tuple(Contrast(t, c) for t, c in pairs)


STUDIES = {
    s.name: s
    for s in (
        Study(
            "msm",
            "Does midtraining on the spec change what the same alignment fine-tuning teaches the model?",
            _arms(
                ("msm+aft", "aft-only"),
                ("msm+aft-reasoning", "aft-reasoning"),
                ("msm+aft", "baseline"),
                ("aft-only", "baseline"),
                ("msm-only", "baseline"),
            ),
            headline=2,
        ),
        Study(
            "cheese-study",
            "Does the spec a model was midtrained on decide which value identical cheese-preference "
            "fine-tuning generalizes to?",
            _arms(
                ("msm({X})+aft", "msm({Y})+aft"),
                ("msm({X})", "msm({Y})"),
                ("msm({X})+aft", "aft-only"),
                ("msm({X})+aft", "msm({X})"),  # §3.2: MSM+AFT beats MSM alone and AFT alone
                ("aft-only", "baseline"),
            ),
            headline=2,
        ),
        Study(
            "spec-sweep",
            "Which spec, midtrained on, makes the same alignment fine-tuning generalize best?",
            _arms(
                ("msm({X})+aft({A})", "aft-only({A})"),
                ("msm({X})+aft-reasoning({A})", "aft-reasoning({A})"),
                ("msm({X})+aft({A})", "msm({A})+aft({A})"),  # a cross pair against its diagonal
                ("msm({X})+aft-reasoning({A})", "msm({A})+aft-reasoning({A})"),
                ("aft-only({A})", "baseline"),
                ("aft-reasoning({A})", "baseline"),
                ("msm({X})", "baseline"),
            ),
            headline=2,
        ),
        Study(
            "aft-scaling",
            "How much alignment fine-tuning data does midtraining on the spec save?",
            _arms(
                ("msm+aft@{N}", "aft-only@{N}"),
                ("msm+aft-reasoning@{N}", "aft-reasoning@{N}"),
                ("aft-only@{N}", "baseline"),
            ),
        ),
    )
}


def measures(metrics: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Every per-item score map in a run's metrics.json, by its path under `suites`
    (e.g. `spec-probe/families/america/margins`)."""
    found: dict[str, dict[str, float]] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if not isinstance(node, Mapping):
            return
        for key, value in node.items():
            if key in PER_ITEM_KEYS and isinstance(value, Mapping) and value:
                if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value.values()):
                    found["/".join((*path, key))] = {str(k): float(v) for k, v in value.items()}
            else:
                walk(value, (*path, str(key)))

    walk(metrics.get("suites", {}), ())
    return found


# Measures in words, by pattern ({f}: the family); any other measure is named by its path.
WORDS = (
    (r"spec-probe/families/(?P<f>[^/]+)/margins", "the spec probe's {f} statements (margin, nats/token)"),
    (r"value-ab/families/(?P<f>[^/]+)/loglik/per_item", "value-ab {f} items (share whose likelihood prefers aligned)"),
    (r"value-ab/families/(?P<f>[^/]+)/loglik/margins", "value-ab {f} items (likelihood margin, nats/token)"),
    (r"value-ab/families/(?P<f>[^/]+)/judge/per_item", "value-ab {f} items (share the judge read as aligned)"),
    (r"cheese/families/(?P<f>[^/]+)/loglik/per_item", "the cheese items (share whose likelihood prefers the liked)"),
    (r"am/pooled/judge_and_check/per_item", "agentic misalignment (judge and hard check, mean over conditions)"),
    (r"am/pooled/check/per_item", "agentic misalignment (hard check, mean over conditions)"),
    (r"am/pooled/misuse/per_item", "policy misuse (mean over conditions)"),
    (r"am/reasoning/sp1/per_item", "agentic transcripts whose reasoning invokes SP1"),
    (r"spec-qa/families/(?P<f>[^/]+)/per_item", "spec QA on the {f} spec (rubric score, 0–1)"),
)


def describe(measure: str) -> str:
    """A measure in words, e.g. "the spec probe's america statements (margin, nats/token)"."""
    for pattern, words in WORDS:
        m = re.fullmatch(pattern, measure)
        if m:
            return words.format(**m.groupdict())
    parts = [p for p in measure.split("/") if p not in ("families", "suites")]
    suite, *middle, key = parts
    where = f", {' '.join(middle)}" if middle else ""
    return f"{suite}{where}: {key.replace('_', ' ')} ({UNITS.get(key, 'score')})"


ALPHA = 0.05  # the sign-flip test's level, matching the 95% intervals


def differs(d: Mapping[str, Any]) -> bool:
    """Whether a paired difference is stated as one: its 95% interval excludes 0 and the sign-flip
    test rejects at ALPHA."""
    excluded = d["diff"] is not None and (d["ci_low"] > 0 or d["ci_high"] < 0)
    return excluded and d["p_value"] is not None and d["p_value"] < ALPHA


def sentence(treatment: str, control: str, measure: str, d: Mapping[str, Any]) -> str:
    """The contrast in one sentence, every word decided by the numbers."""
    what = describe(measure)
    if d["diff"] is None:
        return f"{treatment} and {control} scored no items in common on {what}: no comparison."
    seeds = d["seeds"]
    over = f"n = {d['n']} items" + (f", {seeds[0]} vs {seeds[1]} seeds" if max(seeds) > 1 else "")
    numbers = (
        f"{d['diff']:+.3f} (paired 95% CI {d['ci_low']:+.3f} to {d['ci_high']:+.3f}, p = {d['p_value']:.3g}, {over})"
    )
    # A difference is stated only when the bootstrap interval and the sign-flip test agree: with few
    # items that differ at all (a handful of 0/1 changes), the percentile interval can exclude 0
    # while the exact permutation test cannot reject.
    if differs(d):
        side = "higher" if d["diff"] > 0 else "lower"
        return f"On {what}, {treatment} scored {side} than {control}: {numbers}."
    why = (
        "the interval includes 0"
        if d["ci_low"] <= 0 <= d["ci_high"]
        else f"the interval excludes 0 but the sign-flip test does not reject at p < {ALPHA}"
    )
    return f"On {what}, {treatment} and {control} did not differ detectably: {numbers}; {why}."


def conditions(runs: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Runs grouped by label, in first-seen order: a label's runs are its seeds."""
    found: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        found.setdefault(run.get("condition", run["label"]), []).append(run)
    return found


def answer(study: Study, runs: Iterable[dict[str, Any]], *, resamples: int = 2000) -> list[dict[str, Any]]:
    """Every contrast of the study that the runs can answer, on every leading measure both conditions
    have, in the study's measure order; each with its numbers and its sentence."""
    by_label = conditions(runs)
    scored = {label: [measures(r) for r in rs] for label, rs in by_label.items()}
    headline = {c for t in study.contrasts[: study.headline] for c in Study("", "", (t,)).contrasts_for(scored)}
    out = []
    for c in study.contrasts_for(scored):
        common = set.intersection(*(set(m) for m in scored[c.treatment] + scored[c.control]))
        for pattern in study.measures:
            for measure in sorted(m for m in common if fnmatchcase(m, pattern)):
                a: list[Scores] = [m[measure] for m in scored[c.treatment]]
                b: list[Scores] = [m[measure] for m in scored[c.control]]
                d = paired_difference(a, b, resamples=resamples)
                out.append(
                    {
                        "treatment": c.treatment,
                        "control": c.control,
                        "measure": measure,
                        **d,
                        "sentence": sentence(c.treatment, c.control, measure, d),
                        "headline": c in headline,
                    }
                )
            common -= {m for m in common if fnmatchcase(m, pattern)}
    return out

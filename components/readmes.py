"""Write the components' READMEs from their docstrings and KFP specs: `python -m components.readmes`.

Each folder's README.md and the index components/README.md are generated, so they cannot drift from
the code; tests/pipelines/test_components.py fails when a written file differs from what this renders.
"""

import importlib
import inspect
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from kfp.dsl.python_component import PythonComponent

from components import images
from msm.errors import MsmError

HERE = Path(__file__).parent
REGENERATE = "python -m components.readmes"
STAGES = [
    "preflight",
    "ingest",
    "synthesize_docs",
    "synthesize_aft",
    "base_model",
    "midtrain",
    "align",
    "evaluate",
    "report",
    "gather",
    "compare",
    "fetch_checkpoint",
    "check_regressions",
    "publish",
    "dvc_data",
]
# Compared by value: a component holds the image string it was decorated with, not the constant's name.
FAMILIES = {"cpu": "CPU_IMAGE", "train": "TRAIN_IMAGE", "eval": "EVAL_IMAGE"}
RETURN_OUTPUT = "Output"  # the name KFP gives a component's return value

INTRO = """\
# components/

One folder per pipeline stage. Each `component.py` is a KFP lightweight component: a thin wrapper
that calls the msm library, with the heavy imports inside the function so that compiling a pipeline
never imports torch. A component takes its image from `components/images.py`, one per runtime
family (release builds pin them through `MSM_IMAGE_CPU`, `MSM_IMAGE_TRAIN` and `MSM_IMAGE_EVAL`);
secrets are attached by the pipelines (`pipelines/platform.py`), never inside a component.

This page and every folder's README are generated from the components' docstrings by
`python -m components.readmes`; `tests/pipelines/test_components.py` fails when one is stale.
"""

# Google-style docstring layout: a section starts with an unindented "Name:" line; an argument
# starts at the section's first indent and continues on more deeply indented lines.
SECTION = re.compile(r"^([A-Z][A-Za-z ]*):$")
ARGUMENT = re.compile(r"^(\w+)(?: \([^)]*\))?:\s*(.*)$")
# Library names are being changed, so the index leaves them to each component's own README.
LIBRARY_REFERENCE = re.compile(r"\s*\(msm\.[^)]*\)")


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class Component:
    stage: str
    prose: list[str]  # the docstring's paragraphs before its sections; the first is the summary
    family: str
    inputs: list[Parameter]
    outputs: list[Parameter]


def source(stage: str) -> str:
    return f"components/{stage}/component.py"


def sections(doc: str) -> tuple[str, dict[str, list[str]]]:
    """(the text before the first section, {section name: its lines, dedented once})."""
    lines = inspect.cleandoc(doc).splitlines()
    starts = [i for i, line in enumerate(lines) if SECTION.match(line)]
    found = {}
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(lines)
        found[lines[start][:-1]] = textwrap.dedent("\n".join(lines[start + 1 : end])).splitlines()
    return "\n".join(lines[: starts[0] if starts else len(lines)]).strip(), found


def arguments(lines: list[str]) -> dict[str, str]:
    """{name: description} of an Args section, each description joined into one line."""
    found: dict[str, list[str]] = {}
    for line in lines:
        match = ARGUMENT.match(line) if not line[:1].isspace() else None
        if match:
            found[match[1]] = [match[2]]
        elif found and line.strip():
            found[list(found)[-1]].append(line.strip())
    return {name: " ".join(words) for name, words in found.items()}


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def family(stage: str, image: str) -> str:
    for name, constant in FAMILIES.items():
        if image == getattr(images, constant):
            return name
    raise MsmError(
        f"{source(stage)}: image {image!r} is none of components/images.py's {', '.join(FAMILIES.values())}\n"
        "    fix: take base_image from components.images"
    )


def parameter(stage: str, name: str, kfp_type: str, is_list: bool, described: dict[str, str]) -> Parameter:
    if not described.get(name):
        section = "a Returns: section" if name == RETURN_OUTPUT else f"`{name}: ...` to its Args: section"
        raise MsmError(
            f"{source(stage)}: the docstring of {stage} does not describe parameter {name!r}\n    fix: add {section}"
        )
    return Parameter(name, f"list of {kfp_type}" if is_list else kfp_type, described[name])


def describe(stage: str, component: PythonComponent) -> Component:
    """A KFP component's README content; raises when its docstring leaves a parameter undescribed."""
    spec = component.component_spec
    prose, found = sections(component.python_func.__doc__ or "")
    described = arguments(found.get("Args", []))
    described[RETURN_OUTPUT] = " ".join(line.strip() for line in found.get("Returns", []))
    unknown = set(described) - set(spec.inputs or {}) - set(spec.outputs or {}) - {RETURN_OUTPUT}
    if unknown:
        raise MsmError(
            f"{source(stage)}: the docstring's Args describes {', '.join(sorted(unknown))}, not parameters of {stage}\n"
            "    fix: rename or remove those entries"
        )
    if not prose:
        raise MsmError(f"{source(stage)}: {stage} has no docstring summary\n    fix: start its docstring with one line")
    return Component(
        stage=stage,
        prose=paragraphs(prose),
        family=family(stage, spec.implementation.container.image),
        inputs=[parameter(stage, n, s.type, s.is_artifact_list, described) for n, s in (spec.inputs or {}).items()],
        outputs=[parameter(stage, n, s.type, s.is_artifact_list, described) for n, s in (spec.outputs or {}).items()],
    )


def load(stage: str) -> PythonComponent:
    return getattr(importlib.import_module(f"components.{stage}.component"), stage)


def markdown(text: str) -> str:
    """Docstring text as Markdown: outside code spans, `<name>` placeholders would be read as HTML tags."""
    parts = text.split("`")
    return "`".join(part if i % 2 else part.replace("<", "\\<") for i, part in enumerate(parts))


def cell(text: str) -> str:
    return markdown(text).replace("|", "\\|")


def table(kind: str, params: list[Parameter]) -> list[str]:
    rows = [f"| `{p.name}` | {cell(p.type)} | {cell(p.description)} |" for p in params]
    return [f"| {kind} | type | description |", "|---|---|---|", *rows] if rows else [f"No {kind}s."]


def readme(c: Component) -> str:
    lines = [f"# {c.stage.replace('_', '-')}", ""]
    for paragraph in c.prose:
        lines += [markdown(paragraph), ""]
    lines += [
        f"Image: the {c.family} family (`{FAMILIES[c.family]}` in `components/images.py`).",
        "",
        *table("input", c.inputs),
        "",
        *table("output", c.outputs),
        "",
        f"Source: `{source(c.stage)}` (a thin wrapper over the msm library; generated by `{REGENERATE}`).",
        "",
    ]
    return "\n".join(lines)


def render(stage: str) -> str:
    return readme(describe(stage, load(stage)))


def summary(c: Component) -> str:
    """The docstring's first line without library names."""
    return LIBRARY_REFERENCE.sub("", c.prose[0].splitlines()[0])


def render_index() -> str:
    rows = [
        f"| [`{c.stage}/`]({c.stage}/README.md) | {cell(summary(c))} | {c.family} |"
        for c in (describe(stage, load(stage)) for stage in STAGES)
    ]
    return "\n".join([INTRO, "| folder | summary | image family |", "|---|---|---|", *rows, ""])


def main() -> None:
    for stage in STAGES:
        (HERE / stage / "README.md").write_text(render(stage), encoding="utf-8")
    (HERE / "README.md").write_text(render_index(), encoding="utf-8")


if __name__ == "__main__":
    main()

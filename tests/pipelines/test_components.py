"""Components: READMEs up to date, no heavy import at module level, direct calls of the ingest wrapper.

No `from __future__ import annotations` here: the fake components below need real annotations for KFP.
"""

import json
import re
import subprocess
import sys

import pytest
from kfp import dsl
from kfp.dsl import Dataset, Output
from support import REPO

from components import readmes
from components.images import CPU_IMAGE
from msm.errors import MsmError

STALE = f"is stale: run `{readmes.REGENERATE}`"
ROW = re.compile(r"^\| `(\w+)` \| [^|]+ \| (.*\S.*) \|$", re.MULTILINE)  # name, type, non-empty description


def test_readmes_are_generated_from_the_docstrings():
    for stage in readmes.STAGES:
        path = REPO / "components" / stage / "README.md"
        assert path.read_text() == readmes.render(stage), f"components/{stage}/README.md {STALE}"


def test_index_is_generated_and_lists_every_component():
    index = (REPO / "components" / "README.md").read_text()
    assert index == readmes.render_index(), f"components/README.md {STALE}"
    table = index[index.index("| folder |") :]
    assert [f"{stage}/" for stage in readmes.STAGES] == re.findall(r"^\| \[`(\w+/)`\]", table, re.MULTILINE)
    assert not re.search(r"msm\.\w", table), "the index names an msm library function: they are being renamed"


def test_every_input_and_output_is_described():
    for stage in readmes.STAGES:
        spec = readmes.load(stage).component_spec
        described = dict(ROW.findall((REPO / "components" / stage / "README.md").read_text()))
        assert set(described) == {*(spec.inputs or {}), *(spec.outputs or {})}, stage


@dsl.component(base_image=CPU_IMAGE)
def undocumented(text: str, count: int, out: Output[Dataset]):
    """Copy text.

    Args:
        text: The text.
        out: Where it goes.
    """


@dsl.component(base_image=CPU_IMAGE)
def unreturned(text: str) -> str:
    """Copy text.

    Args:
        text: The text.
    """
    return text


@dsl.component(base_image=CPU_IMAGE)
def documented(text: str, out: Output[Dataset]) -> str:
    """Copy text: a | b.

    More about it.

    Args:
        text: The text, one line
            continued on another; a | b.
        out: Where <it> goes, `<dir>/x`.

    Returns:
        The copy.
    """
    return text


def test_a_parameter_without_description_is_an_error():
    with pytest.raises(
        MsmError, match=r"undocumented/component.py: .* undocumented .*'count'\n.*add `count: \.\.\.` to its Args"
    ):
        readmes.describe("undocumented", undocumented)
    with pytest.raises(MsmError, match=r"unreturned/component.py: .* unreturned .*'Output'\n.*add a Returns: section"):
        readmes.describe("unreturned", unreturned)


def test_descriptions_are_joined_and_escaped():
    text = readmes.readme(readmes.describe("documented", documented))
    assert "\nCopy text: a | b.\n\nMore about it.\n" in text
    assert "| `text` | String | The text, one line continued on another; a \\| b. |" in text
    assert "| `out` | system.Dataset@0.0.1 | Where \\<it> goes, `<dir>/x`. |" in text
    assert "| `Output` | String | The copy. |" in text


def test_compiling_imports_no_heavy_library():
    code = (
        "import sys; import pipelines.msm_pipeline; "
        "print([m for m in ('torch', 'transformers', 'deepspeed', 'vllm') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_ingest_component_called_directly(tmp_path):
    from components.ingest.component import ingest

    out = Dataset(name="spec", uri=str(tmp_path / "spec"), metadata={})
    ingest.python_func(
        spec_markdown=(REPO / "specs/rules.md").read_text(),
        recipe_yaml=(REPO / "recipes/tiny-offline.yaml").read_text(),
        spec=out,
    )
    doc = json.loads((tmp_path / "spec" / "spec.json").read_text())
    assert doc["id"] == "rules" and doc["placeholders"]["model_name"] == "Aria"
    assert out.metadata["spec_id"] == "rules" and out.metadata["rendered_sha256"] == doc["rendered_sha256"]

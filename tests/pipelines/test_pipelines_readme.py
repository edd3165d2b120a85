"""pipelines/README.md is generated from the pipeline registry, so it names every pipeline as built."""

from support import REPO

from pipelines import readme
from pipelines.registry import MODULES


def test_readme_is_generated_from_the_registry():
    written = (REPO / "pipelines" / "README.md").read_text()
    assert written == readme.render(), f"pipelines/README.md is stale: run `{readme.REGENERATE}`"
    for name in MODULES:
        assert f"| `{name}` |" in written and f"### {name}\n" in written

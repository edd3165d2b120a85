"""The import contracts in .importlinter hold, and breaking one on purpose makes lint-imports fail.

Each test copies the three packages into a temporary tree, adds one import that the architecture
forbids, and runs the real lint-imports on the copy with the repository's contracts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy is found first on the path and is analysed from source; nothing in it is imported.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [LINT_IMPORTS, "--config", REPO / ".importlinter", "--no-cache", "--no-logo"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in ("msm", "components", "pipelines"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return tmp_path


def add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_repository_keeps_every_contract(tree):
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        # One stage reaching into another, even from inside a function.
        (
            "msm/synthesis/corpus_stage.py",
            "def _reach():\n    from msm.training import trainer  # noqa",
            "msm.synthesis is not allowed to import msm.training",
        ),
        # A shared layer importing a stage.
        (
            "msm/manifest.py",
            "import msm.evaluation.report  # noqa",
            "msm.manifest is not allowed to import msm.evaluation",
        ),
        # The library importing its drivers.
        ("msm/errors.py", "import components.images  # noqa", "msm is not allowed to import components"),
        # One component using another.
        (
            "components/align/component.py",
            "import components.midtrain.component  # noqa",
            "components.align is not allowed to import components.midtrain",
        ),
    ],
)
def test_a_forbidden_import_breaks_the_layers(tree, module, line, broken):
    add_line(tree / module, line)
    result = lint(tree)
    assert result.returncode == 1, result.stdout
    assert broken in result.stdout


def test_an_import_cycle_breaks_the_cycle_contract(tree):
    # Two modules of one package importing each other, one of them inside a function: the kind of
    # circle that function-level imports used to hide.
    add_line(tree / "msm/llm/limits.py", "def _circle():\n    from msm.llm import client  # noqa")
    result = lint(tree)
    assert result.returncode == 1, result.stdout
    assert "No import cycles" in result.stdout and "BROKEN" in result.stdout.split("No import cycles")[1][:200]


# Every circle, not only between siblings: a package's __init__ and one of its modules importing
# each other is invisible to the acyclic_siblings contract, so the whole graph is searched too.
FIND_CYCLES = """
import grimp
graph = grimp.build_graph("msm", "components", "pipelines", cache_dir=None)
for module in sorted(graph.modules):
    for imported in sorted(graph.find_modules_directly_imported_by(module)):
        back = graph.find_shortest_chain(importer=imported, imported=module)
        if back:
            print(" -> ".join((module, *back)))
"""


def cycles(tree: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    result = subprocess.run(
        [sys.executable, "-c", FIND_CYCLES], cwd=tree, env=env, capture_output=True, text=True, timeout=300, check=True
    )
    return result.stdout.splitlines()


def test_no_module_reaches_itself_through_its_imports(tree):
    assert cycles(tree) == []


def test_a_circle_through_a_package_init_is_found(tree):
    add_line(
        tree / "msm/evaluation/suites/base.py", "def _circle():\n    from msm.evaluation.suites import REGISTRY  # noqa"
    )
    found = cycles(tree)
    assert "msm.evaluation.suites.base -> msm.evaluation.suites -> msm.evaluation.suites.base" in found

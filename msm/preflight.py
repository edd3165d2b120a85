"""Preflight: everything a run needs from outside msm, checked in seconds before any task is scheduled.

    msm preflight --recipe recipes/paper/cheese-llama-3.1-8b.yaml [--cluster]

For the recipe's generator (`synthesis.generator`) and judge (`evaluation.judge`): the API key's
environment variable is set (checked by name, never read out), the endpoint answers, the model
exists, and the longest synthesis prompt plus the output cap fits the model's context (where the
API reports it: vLLM's `max_model_len`, Anthropic's `max_input_tokens`). For each of the recipe's
specs, the budget covers `msm synthesize preview`'s estimate. With `cluster`, the GPU tasks' needs
fit the recipe's `platform` section. Every problem is collected and raised at once (InvalidInput);
an offline generator has nothing to call, and the recipe and budget are still checked.

It sits above the stages (it renders specs and reuses the synthesis preview) and below the CLI.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from msm.config import Recipe, load_recipe
from msm.config.llm import EndpointConfig
from msm.config.synthesis import BudgetConfig
from msm.errors import InvalidInput, Problem, problem
from msm.llm.backends import check_env, open_backend
from msm.spec import ingest_specs
from msm.synthesis.preview import preview

PROBE_TIMEOUT_S = 10.0  # a healthy endpoint answers a model lookup in well under a second


async def _lookup_model(cfg: EndpointConfig, field: str) -> dict[str, Any]:
    """The API's record of `cfg.model` (GET /v1/models/{id}) through the official SDK."""
    backend = open_backend(cfg.model_copy(update={"timeout_s": min(cfg.timeout_s, PROBE_TIMEOUT_S)}), field)
    try:
        return (await backend.client.models.retrieve(cfg.model)).to_dict()  # type: ignore[attr-defined]
    finally:
        await backend.close()


def _context_tokens(record: dict[str, Any]) -> int | None:
    """The model's context, where the API says: vLLM's `max_model_len` (OpenAI-compatible), Anthropic's
    `max_input_tokens`. OpenAI's own API does not report it."""
    value = record.get("max_model_len") or record.get("max_input_tokens")
    return int(value) if value else None


def check_endpoint(cfg: EndpointConfig, field: str, longest_prompt: int | None) -> tuple[list[Problem], dict[str, Any]]:
    """Key, endpoint, model and context of one generator or judge."""
    if cfg.backend == "offline":
        return [], {"backend": "offline", "note": "nothing to call"}
    try:
        check_env(cfg, field)
    except InvalidInput as e:
        return list(e.problems), {"backend": cfg.backend}
    try:
        record = asyncio.run(_lookup_model(cfg, field))
    except Exception as e:  # the SDK's errors name the cause (connection refused, 401, 404) without the key
        status = getattr(e, "status_code", None)
        if status == 404:
            what, fix = f"the API has no model '{cfg.model}'", f"correct `{field}.model` (the API's model id)"
        elif status in (401, 403):
            what, fix = (
                f"the API refused the key (HTTP {status})",
                "export a valid key in the variable the recipe names",
            )
        else:
            what = f"the endpoint does not answer a model lookup ({type(e).__name__}: {str(e)[:200]})"
            fix = "start the server or correct the base URL, and check the network from where the run starts"
        return [problem("endpoint", what, fix, field=f"{field}.model")], {"backend": cfg.backend}
    context = _context_tokens(record)
    info = {"backend": cfg.backend, "model": cfg.model, "context_tokens": context, "longest_prompt": longest_prompt}
    if context is not None and longest_prompt is not None and longest_prompt + cfg.max_tokens > context:
        return [
            problem(
                "endpoint",
                f"the longest prompt (~{longest_prompt:,} tokens) plus the output cap ({cfg.max_tokens:,}) exceeds "
                f"the context of '{cfg.model}' ({context:,} tokens)",
                f"lower `{field}.max_tokens`, serve the model with a longer context, or use a shorter spec",
                field=f"{field}.max_tokens",
            )
        ], info
    return [], info


def check_budget(
    budget: BudgetConfig, recipe_path: Path, projections: list[dict[str, Any]]
) -> tuple[list[Problem], dict[str, Any]]:
    """Each spec's synthesis (one cache and budget per spec) against the preview's estimate."""
    problems, estimates = [], {}
    for projection in projections:
        total = projection["total"]
        estimates[projection["spec"]] = {k: total[k] for k in ("calls", "input_tokens", "output_tokens", "cost_usd")}
        tokens = total["input_tokens"] + total["output_tokens"]
        over = []
        if budget.max_dollars is not None and total["cost_usd"] > budget.max_dollars:
            over.append(f"${total['cost_usd']:,.2f} > max_dollars ${budget.max_dollars:,.2f}")
        if budget.max_tokens is not None and tokens > budget.max_tokens:
            over.append(f"{tokens:,} tokens > max_tokens {budget.max_tokens:,}")
        if over:
            problems.append(
                problem(
                    recipe_path,
                    f"the budget does not cover the estimate for spec '{projection['spec']}' ({'; '.join(over)}); "
                    "the run would stop part-way",
                    "raise synthesis.budget, or lower the counts (see `msm synthesize preview`)",
                    field="synthesis.budget",
                )
            )
    return problems, estimates


def _longest_prompt(projections: list[dict[str, Any]]) -> int:
    """Input tokens of the longest call the synthesis makes (the preview renders the real prompts)."""
    return max(
        (lv["input_tokens"] // max(1, lv["calls"]) for p in projections for lv in p["levels"].values()), default=0
    )


def check_platform(recipe: Recipe, recipe_path: Path) -> list[Problem]:
    """What the cluster's GPU tasks need, against what `platform` gives them."""
    platform, problems = recipe.platform, []
    if recipe.training is not None and platform.train.gpus < 1:
        problems.append(
            problem(
                recipe_path,
                "training runs on the cluster but its tasks get no GPU",
                "set platform.train.gpus >= 1",
                field="platform.train.gpus",
            )
        )
    evaluation = recipe.evaluation
    if (
        evaluation is not None
        and evaluation.engine.startswith("vllm")
        and evaluation.vllm_tensor_parallel_size > platform.eval.gpus
    ):
        problems.append(
            problem(
                recipe_path,
                f"vLLM splits the model over {evaluation.vllm_tensor_parallel_size} GPUs but an evaluation task gets "
                f"{platform.eval.gpus}",
                "raise platform.eval.gpus or lower evaluation.vllm_tensor_parallel_size",
                field="platform.eval.gpus",
            )
        )
    return problems


def preflight(recipe_path: Path, *, specs: list[Path] | None = None, cluster: bool = False) -> dict[str, Any]:
    """Run every check; raise InvalidInput listing all problems, or return what was checked. `specs`
    (spec .md files) stand in for the recipe's list where its paths do not exist (a KFP task)."""
    recipe_path = Path(recipe_path)
    # The recipe's own problems first: nothing else can be checked without it.
    recipe = load_recipe(recipe_path, check_files=specs is None)
    problems: list[Problem] = []
    report: dict[str, Any] = {"recipe": recipe.name, "endpoints": {}}
    with TemporaryDirectory(prefix="msm-preflight-") as tmp:
        spec_dirs = ingest_specs(
            list(specs or recipe.specs), Path(tmp), recipe.identity.model_name, recipe.identity.provider_name
        )
        if recipe.synthesis is not None:
            projections = [preview(spec_dir, recipe_path) for spec_dir in spec_dirs]
            found, report["estimates"] = check_budget(recipe.synthesis.budget, recipe_path, projections)
            problems += found
            found, report["endpoints"]["synthesis.generator"] = check_endpoint(
                recipe.synthesis.generator, "synthesis.generator", _longest_prompt(projections)
            )
            problems += found
    if recipe.evaluation is not None and recipe.evaluation.judge is not None:
        found, report["endpoints"]["evaluation.judge"] = check_endpoint(
            recipe.evaluation.judge, "evaluation.judge", None
        )
        problems += found
    if cluster:
        problems += check_platform(recipe, recipe_path)
    if problems:
        raise InvalidInput(problems)
    report["ok"] = True
    return report

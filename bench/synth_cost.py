"""Dollars per corpus for the paper recipes: online list price, batch, and batch + prompt caching.

    .venv/bin/python bench/synth_cost.py

Goal (issue 16): batch + caching <= 0.35 of the online list price. For each recipe in recipes/paper/,
a small document run (1 domain, 2 subdomains, 2 types x 3 ideas) goes through the Anthropic batch
API of tests/llm/fake_batch_server.py with prompt caching; its manifest gives the accounted usage
per call and level (input, cached input, cache writes). Scaled to the recipe's planned calls per level
(msm synthesize preview), with the preview's output tokens per item (the fake server's replies are
short, real documents are not), the same usage is priced three ways with msm/llm/pricing.py. Token
counts are the server's (4 characters a token); prices as of pricing.PRICES_AS_OF. Also prints the
wall time of each fake-server batch run.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests/llm"))

from batch_support import KEY_ENV, SECRET, URL_ENV, batch_generator, server_url  # noqa: E402
from fake_batch_server import FakeBatchServer  # noqa: E402

from msm.config import load_recipe  # noqa: E402
from msm.config.llm import EndpointConfig  # noqa: E402
from msm.llm.pricing import PRICES_AS_OF, Usage, cost_usd, price_for  # noqa: E402
from msm.spec import ingest_specs  # noqa: E402
from msm.synthesis.corpus_stage import synthesize_documents  # noqa: E402
from msm.synthesis.preview import preview  # noqa: E402

SMALL = {"domains": 1, "subdomains_per_domain": 2, "doc_types_per_subdomain": 2, "ideas_per_doc_type": 3}
LARGER = {"domains": 2, "subdomains_per_domain": 2, "doc_types_per_subdomain": 5, "ideas_per_doc_type": 10}  # 200 docs
GOAL = 0.35


def small_run(recipe_path: Path, spec_dir: Path, tmp: Path, counts: dict = SMALL) -> tuple[dict, float]:
    """The accounted usage of a small batch run of this recipe's spec against the fake server."""
    raw = yaml.safe_load(recipe_path.read_text())
    raw["synthesis"]["documents"].update(counts)
    raw["synthesis"]["generator"] = batch_generator("anthropic", model=raw["synthesis"]["generator"]["model"])
    raw["synthesis"].pop("budget", None)
    small = tmp / f"small-{recipe_path.name}"
    small.write_text(yaml.safe_dump(raw, sort_keys=False))
    with FakeBatchServer() as server:
        os.environ[KEY_ENV], os.environ[URL_ENV] = SECRET, server_url(server, "anthropic")
        start = time.perf_counter()
        out = tmp / f"corpus-{recipe_path.stem}-{sum(counts.values())}"
        manifest = synthesize_documents(spec_dir, small, out, progress=False)
        return manifest["accounting"]["levels"], time.perf_counter() - start


def priced_three_ways(cfg: EndpointConfig, measured: dict, planned: dict) -> dict[str, float]:
    price = price_for(cfg)
    dollars = {"online": 0.0, "batch": 0.0, "batch+caching": 0.0}
    for name, level in planned["levels"].items():
        seen = measured.get(name)
        if not seen or not seen["calls"]:
            continue
        calls = level["calls"]
        per_call_in = seen["input_tokens"] / seen["calls"]
        cached_share = seen["cached_input_tokens"] / max(1, seen["input_tokens"])
        tokens_in = round(per_call_in * calls)
        tokens_out = level["output_tokens"]
        write = seen["cache_write_tokens"]  # the prefix is written once per run, whatever its size
        dollars["online"] += cost_usd(price, Usage(tokens_in, tokens_out))
        dollars["batch"] += cost_usd(price, Usage(tokens_in, tokens_out, batch=True))
        cached = round(cached_share * tokens_in)
        dollars["batch+caching"] += cost_usd(price, Usage(tokens_in, tokens_out, cached, write, batch=True))
    return dollars


def main() -> None:
    print(f"prices as of {PRICES_AS_OF} (msm/llm/pricing.py); tokens: 4 characters each")
    header = f"{'recipe':<36}{'model':<18}{'docs':>7}{'online $':>11}{'batch $':>10}{'b+cache $':>11}"
    print(f"{header}{'ratio':>7}{'run s':>7}")
    ratios = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for recipe_path in sorted((REPO / "recipes/paper").glob("*.yaml")):
            recipe = load_recipe(recipe_path, check_files=False)
            assert recipe.synthesis is not None
            spec_dir = ingest_specs(
                [REPO / recipe.specs[0]],
                tmp / recipe_path.stem,
                recipe.identity.model_name,
                recipe.identity.provider_name,
            )[0]
            measured, wall = small_run(recipe_path, spec_dir, tmp)
            planned = preview(spec_dir, recipe_path)
            dollars = priced_three_ways(recipe.synthesis.generator, measured, planned)
            ratio = dollars["batch+caching"] / dollars["online"]
            ratios.append(ratio)
            print(
                f"{recipe_path.stem:<36}{recipe.synthesis.generator.model:<18}{planned['levels']['documents']['items']:>7,}"
                f"{dollars['online']:>11,.0f}{dollars['batch']:>10,.0f}{dollars['batch+caching']:>11,.0f}{ratio:>7.3f}{wall:>7.1f}"
            )
            if recipe_path.stem.startswith("cheese"):
                levels, wall = small_run(recipe_path, spec_dir, tmp, LARGER)
                jobs = sum(v["batch_calls"] for v in levels.values())
                larger = f"{levels['documents']['calls']} documents, {jobs} calls in batch jobs: {wall:.1f} s wall"
    print(f"batch run against the fake server (jobs end 0.3 s after submission, polled every 0.1 s): {larger}")
    verdict = "met" if max(ratios) <= GOAL else "NOT met"
    print(f"goal: batch + caching <= {GOAL} of online list price: {verdict} (worst ratio {max(ratios):.3f})")


if __name__ == "__main__":
    main()

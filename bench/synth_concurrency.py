"""Throughput of the LLM client (msm.llm) at 64 calls in flight against a local server with 200 ms latency.

    .venv/bin/python bench/synth_concurrency.py [--docs 640] [--concurrency 64] [--latency 0.2]

Goal (synthesis issue): documents/s ÷ the ideal (concurrency / latency) ≥ 0.90. The server runs in
its own process (tests/synthesis/fake_openai_server.py); the client is msm's real LLM client, the real
`openai` SDK, the document prompt and the document parser, with a fresh reply cache.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--docs", type=int, default=640)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--latency", type=float, default=0.2)
    args = p.parse_args()

    from msm.config.synthesis import GeneratorConfig
    from msm.llm.backends import OpenAIBackend, Request
    from msm.llm.cache import ReplyCache
    from msm.llm.client import Client
    from msm.llm.limits import Budget
    from msm.synthesis import parsing, prompts

    server = subprocess.Popen(
        [sys.executable, str(REPO / "tests/synthesis/fake_openai_server.py"), "--latency", str(args.latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        os.environ["BENCH_KEY"] = "bench"
        os.environ["BENCH_URL"] = f"http://127.0.0.1:{port}/v1"
        cfg = GeneratorConfig(
            backend="openai", model="bench", api_key_env="BENCH_KEY", base_url_env="BENCH_URL",
            concurrency=args.concurrency, max_retries=0,
        )  # fmt: skip
        user = prompts.render(
            "document", doc_type="memo", idea="an idea", subdomain_name="s", section_text="text " * 200,
            assertion_list="- a\n- b", model_name="Aria",
        )  # fmt: skip

        async def run(cache_dir: str) -> float:
            client = Client(
                OpenAIBackend(cfg, "synthesis.generator"),
                cfg,
                ReplyCache(Path(cache_dir) / "c.sqlite"),
                Budget(max_tokens=None, max_dollars=None, spent_tokens=0, spent_dollars=0),
                None,
            )
            requests = [
                Request("documents", ({"role": "user", "content": f"{user}\n(document {i})"},))
                for i in range(args.docs)
            ]
            t0 = time.perf_counter()
            c0 = time.process_time()
            docs = await asyncio.gather(*(client.generate(r, parsing.document) for r in requests))
            elapsed = time.perf_counter() - t0
            print(f"client CPU: {time.process_time() - c0:.2f} s over {elapsed:.2f} s wall")
            await client.close()
            assert len(docs) == args.docs
            return elapsed

        async def raw_sdk() -> float:
            """The same calls through the SDK with its defaults (httpx, `chat.completions.create`), no msm client."""
            import openai

            client = openai.AsyncOpenAI(api_key="bench", base_url=os.environ["BENCH_URL"], max_retries=0)
            slots = asyncio.Semaphore(args.concurrency)

            async def one(i: int) -> None:
                async with slots:
                    content = f"{user}\n(raw {i})"
                    await client.chat.completions.create(
                        model="bench", messages=[{"role": "user", "content": content}], max_tokens=cfg.max_tokens
                    )

            t0 = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(args.docs)))
            elapsed = time.perf_counter() - t0
            await client.close()
            return elapsed

        with tempfile.TemporaryDirectory() as d:
            elapsed = asyncio.run(run(d))
        raw_elapsed = asyncio.run(raw_sdk())
    finally:
        server.terminate()
        server.wait()
    rate = args.docs / elapsed
    ideal = args.concurrency / args.latency
    print(f"documents: {args.docs}, in flight: {args.concurrency}, server latency: {args.latency * 1000:.0f} ms")
    print(f"measured: {rate:.1f} docs/s in {elapsed:.2f} s; ideal: {ideal:.1f} docs/s")
    print(f"ratio (goal >= 0.90): {rate / ideal:.3f}")
    raw = args.docs / raw_elapsed
    print(f"openai SDK defaults, no msm client, same load: {raw:.1f} calls/s (ratio to ideal {raw / ideal:.3f})")
    print(f"msm client ÷ SDK defaults: {rate / raw:.3f}")


if __name__ == "__main__":
    main()

"""vLLM's OpenAI-compatible server as an engine (`--engine vllm-server`), started as a subprocess.

    python -m vllm.entrypoints.openai.api_server --model DIR --host 127.0.0.1 --port P ...

The model runs in its own process group, so a crash or out-of-memory kill there is reported with
the server's log instead of taking the evaluation down, and the interface is the one a remote
deployment (or inspect-ai's `openai-api/vllm` provider) talks to. Requests go out concurrently so
the server's continuous batching fills up, which suits the long agentic (AM) transcripts.

Prompts are sent as token ids rendered by engine.prompt_ids, and likelihoods come from
`prompt_logprobs`, so this engine scores the same tokens as the `hf` and `vllm` engines. Adapters
follow the rule in vllm.py: served with --enable-lora when vLLM's LoRA layers can hold them, else
merged into a temporary copy first; `adapter_serving` says which.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from msm.errors import MsmError
from msm.evaluation.engines.base import (
    Generation,
    Messages,
    Score,
    continuation_ids,
    generate_then_score,
    prompt_ids,
)
from msm.evaluation.engines.vllm import adapter_merge_reason, lora_rank, merge_adapter, whole_prompt_prefill
from msm.evaluation.engines.vllm_memory import vllm_memory_settings
from msm.evaluation.model_source import ModelSource

SERVED_NAME = "msm-eval"


class ServerFailed(MsmError):
    """The vLLM server exited or never became healthy."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class VLLMServerEngine:
    name = "vllm-server"

    def __init__(
        self,
        source: ModelSource,
        *,
        memory_utilization: float = 0.9,
        dtype: str = "float32",
        max_model_len: int | None = None,
        tensor_parallel_size: int = 1,
        prompt_logprobs: bool = True,
        cpu_kv_cache_sequences: int = 4,
        startup_timeout_s: float = 600.0,
        concurrency: int = 32,
    ):
        import httpx
        from transformers import AutoTokenizer

        self._work = Path(tempfile.mkdtemp(prefix="msm-vllm-server-"))
        self.log_path = self._work / "server.log"
        self.port = _free_port()
        self.concurrency = concurrency
        self.adapter_serving: dict[str, Any] | None = None
        model_dir, self.model = source.model_dir, SERVED_NAME
        cmd = [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dtype",
            dtype,
            "--enforce-eager",
            "--seed",
            "0",
            "--served-model-name",
            SERVED_NAME,
            "--tensor-parallel-size",
            str(tensor_parallel_size),
        ]
        memory = vllm_memory_settings(
            source.model_dir,
            memory_utilization=memory_utilization,
            max_model_len=max_model_len,
            dtype=dtype,
            kv_cache_sequences=cpu_kv_cache_sequences,
        )
        cmd += [arg for name, value in memory.items() for arg in (f"--{name.replace('_', '-')}", str(value))]
        if whole_prompt_prefill():
            cmd.append("--no-enable-chunked-prefill")
        if source.adapter is not None:
            reason = adapter_merge_reason(source, prompt_logprobs=prompt_logprobs)
            if reason is None:
                rank = lora_rank(source)
                cmd += ["--enable-lora", "--max-lora-rank", str(rank), "--max-loras", "1"]
                cmd += ["--lora-modules", f"adapter={source.adapter}"]
                self.model = "adapter"  # requests name the adapter to have it applied
                self.adapter_serving = {"mode": "lora", "max_lora_rank": rank}
            else:
                model_dir = merge_adapter(source, self._work / "merged", dtype)
                self.adapter_serving = {"mode": "merged", "reason": reason}
        self.tokenizer = AutoTokenizer.from_pretrained(source.adapter or source.model_dir)
        with self.log_path.open("wb") as log:
            # Own session: close() signals the whole group (the server forks EngineCore/worker processes).
            self.proc = subprocess.Popen(
                [*cmd, "--model", str(model_dir)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.base = f"http://127.0.0.1:{self.port}"
        # trust_env=False: a proxy from the environment must not sit between us and 127.0.0.1.
        self.http = httpx.Client(timeout=httpx.Timeout(600.0, connect=5.0), trust_env=False)
        try:
            self._wait_healthy(startup_timeout_s)
        except BaseException:
            self.close()
            raise

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _wait_healthy(self, timeout_s: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerFailed(
                    f"the vLLM server exited with code {self.proc.returncode} while starting; its log ends:\n"
                    f"{self._log_tail()}"
                )
            try:
                if self.http.get(f"{self.base}/health", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(1.0)
        raise ServerFailed(
            f"the vLLM server was not healthy after {timeout_s:.0f} s; its log ends:\n{self._log_tail()}"
        )

    def _complete(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        try:
            reply = self.http.post(f"{self.base}/v1/completions", json={"model": self.model, **body})
        except httpx.TransportError as e:
            raise ServerFailed(f"the vLLM server stopped answering ({e}); its log ends:\n{self._log_tail()}") from None
        if reply.status_code != 200:
            raise ServerFailed(f"the vLLM server answered {reply.status_code}: {reply.text[:500]}")
        return reply.json()["choices"][0]

    def _map(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(bodies)))) as pool:
            return list(pool.map(self._complete, bodies))

    def generate(
        self, prompts: Sequence[Messages], *, temperature: float, max_new_tokens: int, seed: int
    ) -> list[Generation]:
        bodies = [
            {
                "prompt": prompt_ids(self.tokenizer, m),
                "max_tokens": max_new_tokens,
                "temperature": temperature,
                "top_p": 1.0,
                "seed": seed + i,
                "return_token_ids": True,
            }
            for i, m in enumerate(prompts)
        ]
        return [Generation(text=c["text"], tokens=len(c["token_ids"])) for c in self._map(bodies)]

    def continuation_logprobs(self, prompts: Sequence[Messages], continuations: Sequence[str]) -> list[Score]:
        rows = [
            (prompt_ids(self.tokenizer, m), continuation_ids(self.tokenizer, c))
            for m, c in zip(prompts, continuations, strict=True)
        ]
        bodies = [{"prompt": p + c, "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0} for p, c in rows]
        results = []
        for (p, c), choice in zip(rows, self._map(bodies), strict=True):
            ids = p + c
            # One {token id (as a string): {"logprob": ...}} per prompt position, None at position 0.
            table = choice["prompt_logprobs"]
            results.append((sum(table[pos][str(ids[pos])]["logprob"] for pos in range(len(p), len(ids))), len(c)))
        return results

    def generate_and_score(
        self,
        prompts: Sequence[Messages],
        continuations: Sequence[Sequence[str]],
        *,
        temperature: float,
        max_new_tokens: int,
        seed: int,
    ) -> tuple[list[Generation], list[list[Score]]]:
        return generate_then_score(
            self, prompts, continuations, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed
        )

    def close(self) -> None:
        self.http.close()
        # The whole group, even when the server itself is gone: its engine processes may remain.
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=60)
                break
            except subprocess.TimeoutExpired:
                continue
        shutil.rmtree(self._work, ignore_errors=True)

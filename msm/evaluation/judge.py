"""The judge role: a separate model behind an API, reached through the synthesis stage's backends.

The synthesis engine already does what a judge needs (SQLite reply cache, retries with backoff on
429/5xx/timeouts/dropped connections, bounded re-asks when a verdict does not parse, a concurrency
cap), so it is reused as is. Verdicts are appended per judgment to the run's sample log; an
unreachable judge stops the run after its retries with every finished judgment kept, and so does
SIGTERM, after the calls in flight have landed (within the grace period).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from msm.errors import InvalidInput, MsmError, problem
from msm.evaluation.config import JudgeConfig
from msm.evaluation.results import SampleLog
from msm.hashing import sha256_text
from msm.preemption import Preempted, StopSignal
from msm.synthesis.backends import DEFAULT_KEY_ENV, AnthropicBackend, FatalBackendError, OpenAIBackend, Request
from msm.synthesis.cache import ReplyCache
from msm.synthesis.config import GeneratorConfig
from msm.synthesis.engine import Engine, ExtractionFailed
from msm.synthesis.limits import Budget
from msm.synthesis.parsing import ParseError
from msm.synthesis.session import within_grace

_ANSWER = re.compile(r"<answer>\s*(yes|no)\s*</answer>", re.IGNORECASE)
_SCORE = re.compile(r"<score>\s*([012])\s*</score>")
# The judge prompt templates (read at each use, so what a run's identity hashes is what it sends).
PROMPT_DIR = Path(str(resources.files("msm.evaluation").joinpath("prompts")))


class JudgeUnavailable(MsmError):
    """The judge API failed for good; finished judgments are kept and a rerun resumes."""


def prompt(name: str, **values: Any) -> str:
    text = (PROMPT_DIR / f"{name}.txt").read_text(encoding="utf-8")
    return Template(text).safe_substitute({k: str(v) for k, v in values.items()})


def prompt_sha256(name: str) -> str:
    return sha256_text((PROMPT_DIR / f"{name}.txt").read_text(encoding="utf-8"))


def parse_yes_no(text: str) -> bool:
    found = {m.lower() for m in _ANSWER.findall(text)}
    if len(found) != 1:
        raise ParseError("end your reply with exactly one <answer>yes</answer> or <answer>no</answer>")
    return found.pop() == "yes"


def parse_score(text: str) -> int:
    found = set(_SCORE.findall(text))
    if len(found) != 1:
        raise ParseError("end your reply with exactly one <score>0</score>, <score>1</score> or <score>2</score>")
    return int(found.pop())


def parse_judge_arg(value: str) -> tuple[str, str]:
    backend, sep, model = value.partition(":")
    if not sep or backend not in ("openai", "anthropic") or not model:
        raise InvalidInput(
            [problem("--judge", f"{value!r} is not BACKEND:MODEL", "e.g. --judge openai:gpt-4.1 or anthropic:claude-x")]
        )
    return backend, model


def check_env(cfg: JudgeConfig) -> None:
    """Fail before any generation if the judge's key or URL variables are unset (names, never values)."""
    needed = [(cfg.api_key_env or DEFAULT_KEY_ENV[cfg.backend], "evaluation.judge.api_key_env")]
    if cfg.base_url_env:
        needed.append((cfg.base_url_env, "evaluation.judge.base_url_env"))
    missing = [
        problem("environment", f"the environment variable {name} is not set (judge)", f"export {name}=...", field=f)
        for name, f in needed
        if not os.environ.get(name)
    ]
    if missing:
        raise InvalidInput(missing)


@dataclass(frozen=True)
class Judgment:
    key: str  # sample key + ":" + kind
    kind: str
    messages: tuple[dict[str, str], ...]
    parse: Callable[[str], Any]
    meta: dict[str, Any]


class Judge:
    def __init__(self, cfg: JudgeConfig, cache_path: Path):
        self.cfg = cfg
        check_env(cfg)
        gen = GeneratorConfig(
            backend=cfg.backend,
            model=cfg.model,
            api_key_env=cfg.api_key_env,
            base_url_env=cfg.base_url_env,
            temperature=0.0,
            max_tokens=cfg.max_tokens,
            concurrency=cfg.concurrency,
            max_retries=cfg.max_retries,
            backoff_initial_s=cfg.backoff_initial_s,
            backoff_max_s=cfg.backoff_max_s,
            timeout_s=cfg.timeout_s,
            max_reasks=cfg.max_reasks,
        )
        self.gen, self.cache_path = gen, cache_path

    def record(self) -> dict[str, Any]:
        return {"backend": self.cfg.backend, "model": self.cfg.model}

    def check_cache(self) -> None:
        """Refuse a damaged or foreign cache file before the run writes anything (a missing one is fine)."""
        if self.cache_path.exists():
            ReplyCache(self.cache_path).close()

    def run(self, judgments: list[Judgment], log: SampleLog, stop: StopSignal) -> dict[str, int]:
        try:
            return asyncio.run(within_grace(self._run([j for j in judgments if j.key not in log], log, stop), stop))
        except Preempted as e:
            raise Preempted(
                f"SIGTERM: {e}; every verdict is kept in {log.path}; rerun the same command to resume"
            ) from None

    async def _run(self, pending: list[Judgment], log: SampleLog, stop: StopSignal) -> dict[str, int]:
        backend = OpenAIBackend(self.gen) if self.cfg.backend == "openai" else AnthropicBackend(self.gen)
        cache = ReplyCache(self.cache_path)
        budget = Budget(max_tokens=None, max_dollars=None, spent_tokens=0, spent_dollars=0.0)
        engine = Engine(backend, self.gen, cache, budget, None)
        engine.stop = stop

        async def one(j: Judgment) -> None:
            try:
                verdict = await engine.generate(Request(level=j.kind, messages=j.messages), j.parse)
                parsed = True
            except ExtractionFailed:
                verdict, parsed = None, False  # recorded as unparsed; counted, never guessed
            log.append([{"key": j.key, "kind": j.kind, "verdict": verdict, "parsed": parsed, **j.meta}])

        try:
            outcomes = await asyncio.gather(*(one(j) for j in pending), return_exceptions=True)
        finally:
            await engine.close()
            cache.close()
        fatal = [o for o in outcomes if isinstance(o, FatalBackendError)]
        if fatal:
            done = len(pending) - sum(isinstance(o, BaseException) for o in outcomes)
            raise JudgeUnavailable(
                f"the judge ({self.cfg.backend}:{self.cfg.model}) failed: {fatal[0]}. {done} of {len(pending)} "
                "pending judgments finished and are kept; rerun the same command to resume."
            )
        for o in outcomes:
            if isinstance(o, BaseException):
                raise o
        return engine.totals()

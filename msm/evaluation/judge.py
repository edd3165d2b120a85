"""The judge role: a separate model behind an API, reached through msm.llm, the client the
synthesis generator uses too.

The client does what a judge needs (SQLite reply cache, retries with backoff on
429/5xx/timeouts/dropped connections, bounded re-asks when a verdict does not parse, a concurrency
cap), so it is reused as is. Verdicts are appended per judgment to the run's sample log; an
unreachable judge stops the run after its retries with every finished judgment kept, and so does
SIGTERM, after the calls in flight have landed (within the grace period).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, TypeVar

from msm.config.llm import JudgeConfig
from msm.errors import InvalidInput, MsmError, problem
from msm.evaluation.results import SampleLog
from msm.hashing import sha256_text
from msm.llm import backends
from msm.llm.backends import FatalBackendError, Request
from msm.llm.cache import ReplyCache
from msm.llm.client import Client, ExtractionFailed
from msm.llm.concurrency import within_grace
from msm.llm.limits import Budget
from msm.llm.parsing import ParseError
from msm.preemption import Preempted, StopSignal

_ANSWER = re.compile(r"<answer>\s*(yes|no)\s*</answer>", re.IGNORECASE)
_SCORE = re.compile(r"<score>\s*([012])\s*</score>")
# The judge prompt templates (read at each use, so what a run's identity hashes is what it sends).
FIELD = "evaluation.judge"  # the recipe section, for error messages
PROMPT_DIR = Path(str(resources.files("msm.evaluation").joinpath("prompts")))
# Output tokens a guided reply keeps free for its verdict after the longest reasoning it may write.
VERDICT_TOKENS = 64
_VERDICT_ATTR = "verdict_format"
Parser = TypeVar("Parser", bound=Callable[[str], Any])


class JudgeUnavailable(MsmError):
    """The judge API failed for good; finished judgments are kept and a rerun resumes."""


def prompt(name: str, **values: Any) -> str:
    text = (PROMPT_DIR / f"{name}.txt").read_text(encoding="utf-8")
    return Template(text).safe_substitute({k: str(v) for k, v in values.items()})


def prompt_sha256(name: str) -> str:
    return sha256_text((PROMPT_DIR / f"{name}.txt").read_text(encoding="utf-8"))


def verdict_format(verdict: str) -> Callable[[Parser], Parser]:
    """Declares, on a parser, the regex of the verdict its reply must end with (what a guided judge
    reply is held to; see verdict_regex). The suites declare theirs beside their parsers."""

    def mark(parse: Parser) -> Parser:
        setattr(parse, _VERDICT_ATTR, verdict)
        return parse

    return mark


def verdict_regex(parse: Callable[[str], Any], max_tokens: int) -> str | None:
    """What a guided reply must match (`evaluation.judge.guided_verdict`) for `parse` to read it:
    free reasoning, then the verdict its parser declared (verdict_format); None for a parser without one.

    The reasoning may not contain "<", so it cannot hold a second, different verdict tag that the
    parser would refuse. It is capped in characters at max_tokens - VERDICT_TOKENS: a token carries
    at least one character of English text, so the verdict still fits in the output cap."""
    verdict = getattr(parse, _VERDICT_ATTR, None)
    return None if verdict is None else f"[^<]{{0,{max(0, max_tokens - VERDICT_TOKENS)}}}{verdict}"


@verdict_format("<answer>(yes|no)</answer>")
def parse_yes_no(text: str) -> bool:
    found = {m.lower() for m in _ANSWER.findall(text)}
    if len(found) != 1:
        raise ParseError("end your reply with exactly one <answer>yes</answer> or <answer>no</answer>")
    return found.pop() == "yes"


@verdict_format("<score>[012]</score>")
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
    backends.check_env(cfg, FIELD)


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
        self.cache_path = cache_path

    def record(self) -> dict[str, Any]:
        # guided_verdict only when on, so the records of runs without it stay as they were.
        return {"backend": self.cfg.backend, "model": self.cfg.model} | (
            {"guided_verdict": True} if self.cfg.guided_verdict else {}
        )

    def reply_regex(self, j: Judgment) -> str | None:
        if not self.cfg.guided_verdict:
            return None
        regex = verdict_regex(j.parse, self.cfg.max_tokens)
        if regex is None:
            raise MsmError(
                f"{FIELD}.guided_verdict: no verdict format is known for the {j.kind!r} judgments' parser "
                f"({j.parse.__qualname__}); declare it with msm.evaluation.judge.verdict_format, or set "
                "guided_verdict: false"
            )
        return regex

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
        regexes = {j.key: self.reply_regex(j) for j in pending}  # an unknown parser fails before any call
        backend = backends.open_backend(self.cfg, FIELD)
        cache = ReplyCache(self.cache_path)
        budget = Budget(max_tokens=None, max_dollars=None, spent_tokens=0, spent_dollars=0.0)
        client = Client(backend, self.cfg, cache, budget, None)
        client.stop = stop

        async def one(j: Judgment) -> None:
            try:
                request = Request(level=j.kind, messages=j.messages, reply_regex=regexes[j.key])
                verdict = await client.generate(request, j.parse)
                parsed = True
            except ExtractionFailed:
                verdict, parsed = None, False  # recorded as unparsed; counted, never guessed
            log.append([{"key": j.key, "kind": j.kind, "verdict": verdict, "parsed": parsed, **j.meta}])

        try:
            outcomes = await asyncio.gather(*(one(j) for j in pending), return_exceptions=True)
        finally:
            await client.close()
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
        return client.totals()

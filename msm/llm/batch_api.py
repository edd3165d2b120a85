"""The providers' batch APIs behind one small interface: submit requests as a job, read its status,
read its results. OpenAI: the Batch API (a JSONL file uploaded with `files.create`, then
`batches.create`; results in an output file and an error file). Anthropic: Message Batches
(`messages.batches.create`, `.retrieve`, `.results`). Both through the official SDKs of backends.py,
with the same request bodies as online calls, and each request's cache key as its `custom_id`.

batching.py decides what goes into a job and what happens to each outcome.

`find` answers the one question a kill leaves open: did the provider accept a job whose id never
reached the cache? OpenAI jobs carry the submission's tag in their metadata, so the answer is exact.
Anthropic's batches carry no metadata: the job is the one of the same size created nearest the
submission, and if that guess is another run's job, none of this run's requests are in its results,
so they are sent again (batching.py), which is correct, at worst paid twice in that rare case.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from msm.llm.backends import AnthropicBackend, Backend, Completion, OpenAIBackend, Request, classify_error

# A request that failed in a way that costs nothing and may work next time is sent again in a new
# job: the job expired or was cancelled before reaching it, or the provider had a passing fault.
RETRYABLE_HTTP = {408, 409, 429, 500, 502, 503, 504, 529}
RETRYABLE_ANTHROPIC = {"api_error", "overloaded_error", "rate_limit_error", "timeout_error"}
TAG_FIELD = "msm_intent"  # the OpenAI job metadata key holding the submission's tag
# How far from the recorded submission time a job can have been created (clock skew, a slow submit).
FIND_WINDOW_S = 600.0


@dataclass(frozen=True)
class JobStatus:
    ended: bool
    state: str  # the provider's word for it
    finished: int  # requests with an outcome so far
    total: int
    failed: str = ""  # the whole job was refused (OpenAI validates the file first): why


@dataclass(frozen=True)
class Outcome:
    """One request's result inside a job: a completion, or an error that may be retried."""

    key: str
    completion: Completion | None
    error: str = ""
    retryable: bool = False


class BatchApi(Protocol):
    max_requests: int
    max_bytes: int

    def line(self, request: Request, *, temperature: float, max_tokens: int) -> dict[str, Any]: ...

    async def submit(self, lines: list[dict[str, Any]], tag: str) -> str: ...

    async def find(self, tag: str, size: int, since: float, exclude: set[str]) -> str | None:
        """The id of the job submitted with `tag` (`size` requests, at epoch `since`), if the provider
        has it; jobs in `exclude` are already known."""
        ...

    async def status(self, job_id: str) -> JobStatus: ...

    async def results(self, job_id: str) -> list[Outcome]: ...


@contextmanager
def _sdk_errors(backend: OpenAIBackend | AnthropicBackend) -> Iterator[None]:
    """SDK errors of a batch call become Transient/Fatal, as for online calls."""
    base = backend.sdk.OpenAIError if isinstance(backend, OpenAIBackend) else backend.sdk.AnthropicError
    try:
        yield
    except base as e:
        raise classify_error(e, backend.sdk) from None


class OpenAIBatches:
    # Per job: 50,000 requests and a 200 MB input file (OpenAI's Batch API limits).
    max_requests = 50_000
    max_bytes = 190_000_000  # below the 200 MB limit: the count is of our JSON, not the provider's

    def __init__(self, backend: OpenAIBackend):
        self.backend = backend

    def line(self, request: Request, *, temperature: float, max_tokens: int) -> dict[str, Any]:
        body = self.backend.body(request, temperature=temperature, max_tokens=max_tokens)
        return {"custom_id": request.key, "method": "POST", "url": "/v1/chat/completions", "body": body}

    async def submit(self, lines: list[dict[str, Any]], tag: str) -> str:
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        client = self.backend.client
        with _sdk_errors(self.backend):
            file = await client.files.create(file=("msm-batch.jsonl", data), purpose="batch")
            job = await client.batches.create(
                input_file_id=file.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata={TAG_FIELD: tag},
            )
        return job.id

    async def find(self, tag: str, size: int, since: float, exclude: set[str]) -> str | None:
        with _sdk_errors(self.backend):
            async for job in self.backend.client.batches.list(limit=100):  # newest first
                if job.created_at < since - FIND_WINDOW_S:
                    break
                if (job.metadata or {}).get(TAG_FIELD) == tag:
                    return job.id
        return None

    async def status(self, job_id: str) -> JobStatus:
        with _sdk_errors(self.backend):
            job = await self.backend.client.batches.retrieve(job_id)
        counts = job.request_counts
        failed = ""
        if job.status == "failed":
            errors = [e.message or e.code or "" for e in (job.errors.data if job.errors and job.errors.data else [])]
            failed = "; ".join(errors) or "the provider gave no reason"
        return JobStatus(
            ended=job.status in ("completed", "failed", "expired", "cancelled"),
            state=job.status,
            finished=(counts.completed + counts.failed) if counts else 0,
            total=counts.total if counts else 0,
            failed=failed,
        )

    async def results(self, job_id: str) -> list[Outcome]:
        client = self.backend.client
        with _sdk_errors(self.backend):
            job = await client.batches.retrieve(job_id)
            texts = [(await client.files.content(f)).text for f in (job.output_file_id, job.error_file_id) if f]
        return [self._outcome(json.loads(line)) for text in texts for line in text.splitlines() if line.strip()]

    def _outcome(self, line: dict[str, Any]) -> Outcome:
        key = line.get("custom_id") or ""
        response = line.get("response") or {}
        status = response.get("status_code")
        if status == 200:
            return Outcome(key, self.backend.completion(response.get("body") or {}))
        error = line.get("error") or (response.get("body") or {}).get("error") or {}
        code = error.get("code") or ""
        return Outcome(
            key,
            None,
            error=f"HTTP {status}: {error.get('message') or code}" if status else f"{code}: {error.get('message')}",
            retryable=status in RETRYABLE_HTTP or code in ("batch_expired", "batch_cancelled"),
        )


class AnthropicBatches:
    # Per job: 100,000 requests or 256 MB (Anthropic's Message Batches limits).
    max_requests = 100_000
    max_bytes = 250_000_000

    def __init__(self, backend: AnthropicBackend):
        self.backend = backend

    def line(self, request: Request, *, temperature: float, max_tokens: int) -> dict[str, Any]:
        return {
            "custom_id": request.key,
            "params": self.backend.body(request, temperature=temperature, max_tokens=max_tokens),
        }

    async def submit(self, lines: list[dict[str, Any]], tag: str) -> str:
        with _sdk_errors(self.backend):  # no metadata on Message Batches: `tag` cannot travel
            job = await self.backend.client.messages.batches.create(requests=lines)  # type: ignore[arg-type]
        return job.id

    async def find(self, tag: str, size: int, since: float, exclude: set[str]) -> str | None:
        nearest: tuple[float, str] | None = None
        with _sdk_errors(self.backend):
            async for job in self.backend.client.messages.batches.list(limit=100):  # newest first
                created = _epoch(job.created_at)
                if created < since - FIND_WINDOW_S:
                    break
                c = job.request_counts
                total = c.processing + c.succeeded + c.errored + c.canceled + c.expired
                if job.id in exclude or total != size or created > since + FIND_WINDOW_S:
                    continue
                if nearest is None or abs(created - since) < nearest[0]:
                    nearest = (abs(created - since), job.id)
        return nearest[1] if nearest else None

    async def status(self, job_id: str) -> JobStatus:
        with _sdk_errors(self.backend):
            job = await self.backend.client.messages.batches.retrieve(job_id)
        c = job.request_counts
        return JobStatus(
            ended=job.processing_status == "ended",
            state=job.processing_status,
            finished=c.succeeded + c.errored + c.canceled + c.expired,
            total=c.processing + c.succeeded + c.errored + c.canceled + c.expired,
        )

    async def results(self, job_id: str) -> list[Outcome]:
        with _sdk_errors(self.backend):
            stream = await self.backend.client.messages.batches.results(job_id)
            lines = [item.to_dict() async for item in stream]
        return [self._outcome(line) for line in lines]

    def _outcome(self, line: dict[str, Any]) -> Outcome:
        key = line.get("custom_id") or ""
        result = line.get("result") or {}
        kind = result.get("type")
        if kind == "succeeded":
            return Outcome(key, self.backend.completion(result.get("message") or {}))
        if kind == "errored":
            error = (result.get("error") or {}).get("error") or {}
            return Outcome(
                key,
                None,
                error=f"{error.get('type')}: {error.get('message')}",
                retryable=error.get("type") in RETRYABLE_ANTHROPIC,
            )
        return Outcome(key, None, error=f"request {kind} inside the job", retryable=kind in ("expired", "canceled"))


def _epoch(value: datetime | str) -> float:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.timestamp()


def batch_api(backend: Backend) -> BatchApi:
    if isinstance(backend, OpenAIBackend):
        return OpenAIBatches(backend)
    if isinstance(backend, AnthropicBackend):
        return AnthropicBatches(backend)
    raise ValueError(f"the {backend.name} backend has no batch API")  # refused by the recipe's validation

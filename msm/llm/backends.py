"""Generator backends: one call = one chat request → reply text and token usage.

The OpenAI-compatible backend (OpenAI, vLLM's server, others) and the Anthropic backend use the
official SDKs with their own retries switched off: client.py retries, so that every retry is
counted, paced by the rate limiter and bounded by the recipe. The offline backend is in offline.py.

Both clients use the SDKs' aiohttp transport: at 64 calls in flight their default httpx connection
pool scans every connection on each request, which made the client, not the API, the bottleneck
(bench/synth_concurrency.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from msm.config.llm import EndpointConfig
from msm.errors import InvalidInput, problem

DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
# Sent with every call: the cache key, so server-side logs (and our tests) can tell a repeated
# request from a new one. It is a hash of the request, not a secret.
REQUEST_KEY_HEADER = "X-MSM-Request-Key"


@dataclass(frozen=True)
class Request:
    """One generation request. `context` feeds only the offline backend and is not part of the cache key."""

    level: str
    messages: tuple[Mapping[str, str], ...]
    sample: int = 0
    context: Mapping[str, Any] = field(default_factory=dict)
    key: str = ""  # the cache key, set by the client


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int


class TransientError(Exception):
    """Worth retrying: 429, 5xx, timeouts, dropped connections. `retry_after` in seconds if the server said."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class FatalBackendError(Exception):
    """Retrying cannot help (bad key, unknown model, malformed request)."""


class Backend(Protocol):
    name: str
    model: str
    # What else decides the replies, beyond the model's name: empty for an API model (its name is its
    # identity), a hash of the code for the offline backend. Part of the cache key.
    revision: str

    async def complete(self, request: Request, *, temperature: float, max_tokens: int) -> Completion: ...

    async def close(self) -> None: ...


def check_env(cfg: EndpointConfig, field: str) -> tuple[str, str | None]:
    """(API key, base URL) from the environment variables `cfg` names; every unset one is reported
    at once, by name (never value), with the recipe field (`field`.api_key_env, ...) that names it."""
    if cfg.backend == "offline":
        return "", None
    needed = {"api_key_env": (cfg.api_key_env or DEFAULT_KEY_ENV[cfg.backend], "the API key")}
    if cfg.base_url_env:
        needed["base_url_env"] = (cfg.base_url_env, "the API base URL")
    missing = [
        problem(
            "environment",
            f"the environment variable {name} ({what}) is not set",
            f"export {name}=... before running, or name another variable in `{field}.{setting}`",
            field=f"{field}.{setting}",
        )
        for setting, (name, what) in needed.items()
        if not os.environ.get(name)
    ]
    if missing:
        raise InvalidInput(missing)
    return os.environ[needed["api_key_env"][0]], os.environ[cfg.base_url_env] if cfg.base_url_env else None


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    value = (getattr(response, "headers", None) or {}).get("retry-after")
    try:
        return float(value) if value else None
    except (TypeError, ValueError):  # an HTTP date instead of seconds: fall back to our backoff
        return None


def _classify(exc: Exception, sdk: Any) -> Exception:
    """Map an SDK exception onto Transient/Fatal, with a message that never includes credentials."""
    if isinstance(exc, sdk.APITimeoutError):
        return TransientError("timeout")
    if isinstance(exc, sdk.APIConnectionError):
        return TransientError("connection error")
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        if status in (408, 409, 429) or status >= 500:
            return TransientError(f"HTTP {status}", _retry_after(exc))
        return FatalBackendError(f"HTTP {status} from the API: {str(exc)[:300]}")
    return exc


class OpenAIBackend:
    name = "openai"
    revision = ""

    def __init__(self, cfg: EndpointConfig, field: str):
        import openai

        self._sdk = openai
        self.model = cfg.model
        key, base_url = check_env(cfg, field)
        self._client = openai.AsyncOpenAI(
            api_key=key,
            base_url=base_url,
            max_retries=0,
            timeout=cfg.timeout_s,
            http_client=openai.DefaultAioHttpClient(),
        )

    async def complete(self, request: Request, *, temperature: float, max_tokens: int) -> Completion:
        # The SDK's plain `post` (its documented way to send a raw body): `chat.completions.create`
        # walks every message through its type-driven transform and builds pydantic models for the
        # reply, about as much CPU per call as the HTTP itself; we need four fields of the JSON.
        body = {
            "model": self.model,
            "messages": [dict(m) for m in request.messages],
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        try:
            raw = await self._client.post(
                "/chat/completions", cast_to=bytes, body=body, options={"headers": {REQUEST_KEY_HEADER: request.key}}
            )
        except self._sdk.OpenAIError as e:
            raise _classify(e, self._sdk) from None
        try:
            resp = json.loads(raw)
            choices = resp.get("choices") or [{}]
            text = (choices[0].get("message") or {}).get("content") or ""
            usage = resp.get("usage") or {}
        except (ValueError, AttributeError, TypeError) as e:  # not JSON, or not a chat completion
            raise TransientError(f"unreadable reply from the API: {str(e)[:200]}") from None
        return Completion(
            text=text, input_tokens=usage.get("prompt_tokens") or 0, output_tokens=usage.get("completion_tokens") or 0
        )

    async def close(self) -> None:
        await self._client.close()


class AnthropicBackend:
    name = "anthropic"
    revision = ""

    def __init__(self, cfg: EndpointConfig, field: str):
        import anthropic

        self._sdk = anthropic
        self.model = cfg.model
        key, base_url = check_env(cfg, field)
        self._client = anthropic.AsyncAnthropic(
            api_key=key,
            base_url=base_url,
            max_retries=0,
            timeout=cfg.timeout_s,
            http_client=anthropic.DefaultAioHttpClient(),
        )

    async def complete(self, request: Request, *, temperature: float, max_tokens: int) -> Completion:
        system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
        turns = [{"role": m["role"], "content": m["content"]} for m in request.messages if m["role"] != "system"]
        try:
            resp = await self._client.messages.create(
                model=self.model,
                system=system or self._sdk.omit,
                messages=turns,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                extra_headers={REQUEST_KEY_HEADER: request.key},
                # This SDK version has no `temperature` argument; 1.0 is the API's default, so
                # only a different value is sent, as a raw body field.
                extra_body={"temperature": temperature} if temperature != 1.0 else None,
            )
        except self._sdk.AnthropicError as e:
            raise _classify(e, self._sdk) from None
        text = "".join(getattr(block, "text", "") for block in resp.content)
        return Completion(text=text, input_tokens=resp.usage.input_tokens, output_tokens=resp.usage.output_tokens)

    async def close(self) -> None:
        await self._client.close()


def open_backend(cfg: EndpointConfig, field: str) -> Backend:
    """The API backend `cfg` names; `field` is its recipe section, for error messages."""
    if cfg.backend == "openai":
        return OpenAIBackend(cfg, field)
    if cfg.backend == "anthropic":
        return AnthropicBackend(cfg, field)
    raise ValueError(f"{field}.backend {cfg.backend!r} has no API backend here")  # offline: the caller builds it

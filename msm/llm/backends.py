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
    # The whole reply must match this regex: decoded under that constraint by a vLLM server (its
    # structured outputs). Part of the cache key when set.
    reply_regex: str | None = None


@dataclass(frozen=True)
class Completion:
    """A reply and its usage as billed: `input_tokens` is all input, `cached_input_tokens` of it read
    from the provider's prompt cache, `cache_write_tokens` of it written there (Anthropic)."""

    text: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0


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


def classify_error(exc: Exception, sdk: Any) -> Exception:
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


def _reply_error(e: Exception) -> TransientError:
    return TransientError(f"unreadable reply from the API: {str(e)[:200]}")


class OpenAIBackend:
    name = "openai"
    revision = ""

    def __init__(self, cfg: EndpointConfig, field: str):
        import openai

        self.sdk = openai
        self.model = cfg.model
        key, base_url = check_env(cfg, field)
        self.client = openai.AsyncOpenAI(
            api_key=key,
            base_url=base_url,
            max_retries=0,
            timeout=cfg.timeout_s,
            http_client=openai.DefaultAioHttpClient(),
        )

    def body(self, request: Request, *, temperature: float, max_tokens: int) -> dict[str, Any]:
        """The chat-completions body, online and in a batch job alike. The system message (the spec)
        stays first and byte-identical across calls: OpenAI caches a long common prefix by itself."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in request.messages],
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        if request.reply_regex is not None:
            # vLLM's current field: its older `guided_regex` is dropped by 0.32 with only a log warning.
            body["structured_outputs"] = {"regex": request.reply_regex}
        return body

    @staticmethod
    def completion(resp: Mapping[str, Any]) -> Completion:
        """Text and usage of a chat completion (a reply's JSON, or a batch result line's body)."""
        choices = resp.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content") or ""
        usage = resp.get("usage") or {}
        return Completion(
            text=text,
            input_tokens=usage.get("prompt_tokens") or 0,
            output_tokens=usage.get("completion_tokens") or 0,
            cached_input_tokens=(usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
        )

    async def complete(self, request: Request, *, temperature: float, max_tokens: int) -> Completion:
        # The SDK's plain `post` (its documented way to send a raw body): `chat.completions.create`
        # walks every message through its type-driven transform and builds pydantic models for the
        # reply, about as much CPU per call as the HTTP itself; we need a few fields of the JSON.
        body = self.body(request, temperature=temperature, max_tokens=max_tokens)
        try:
            raw = await self.client.post(
                "/chat/completions", cast_to=bytes, body=body, options={"headers": {REQUEST_KEY_HEADER: request.key}}
            )
        except self.sdk.OpenAIError as e:
            raise classify_error(e, self.sdk) from None
        try:
            return self.completion(json.loads(raw))
        except (ValueError, AttributeError, TypeError) as e:  # not JSON, or not a chat completion
            raise _reply_error(e) from None

    async def close(self) -> None:
        await self.client.close()


class AnthropicBackend:
    name = "anthropic"
    revision = ""

    def __init__(self, cfg: EndpointConfig, field: str):
        import anthropic

        self.sdk = anthropic
        self.model = cfg.model
        self.cache_prompt = cfg.cache_prompt
        key, base_url = check_env(cfg, field)
        self.client = anthropic.AsyncAnthropic(
            api_key=key,
            base_url=base_url,
            max_retries=0,
            timeout=cfg.timeout_s,
            http_client=anthropic.DefaultAioHttpClient(),
        )

    def body(self, request: Request, *, temperature: float, max_tokens: int) -> dict[str, Any]:
        """The Messages API body, online and as a batch request's `params`. The system prompt (it
        carries the spec, the same on every call of a run) is one text block marked for the prompt
        cache, so every call after the first reads it at a tenth of the input price."""
        if request.reply_regex is not None:  # the config refuses this; never send it unconstrained
            raise FatalBackendError("the Anthropic API cannot constrain a reply to a regex")
        system = "\n\n".join(m["content"] for m in request.messages if m["role"] == "system")
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens,
            "messages": [
                {"role": m["role"], "content": m["content"]} for m in request.messages if m["role"] != "system"
            ],
        }
        if system:
            block: dict[str, Any] = {"type": "text", "text": system}
            if self.cache_prompt:
                block["cache_control"] = {"type": "ephemeral"}
            body["system"] = [block]
        if temperature != 1.0:  # the API's default; sent only when it differs
            body["temperature"] = temperature
        return body

    @staticmethod
    def completion(message: Mapping[str, Any]) -> Completion:
        """Text and usage of a Message (a reply's JSON, or a batch result's `message`). Anthropic
        counts cache reads and writes apart from `input_tokens`; here input is all of it."""
        text = "".join(block.get("text", "") for block in message.get("content") or [])
        usage = message.get("usage") or {}
        read = usage.get("cache_read_input_tokens") or 0
        written = usage.get("cache_creation_input_tokens") or 0
        return Completion(
            text=text,
            input_tokens=(usage.get("input_tokens") or 0) + read + written,
            output_tokens=usage.get("output_tokens") or 0,
            cached_input_tokens=read,
            cache_write_tokens=written,
        )

    async def complete(self, request: Request, *, temperature: float, max_tokens: int) -> Completion:
        # The raw `post`, as for OpenAI: the body is the same dict a batch request carries.
        body = self.body(request, temperature=temperature, max_tokens=max_tokens)
        try:
            raw = await self.client.post(
                "/v1/messages", cast_to=bytes, body=body, options={"headers": {REQUEST_KEY_HEADER: request.key}}
            )
        except self.sdk.AnthropicError as e:
            raise classify_error(e, self.sdk) from None
        try:
            return self.completion(json.loads(raw))
        except (ValueError, AttributeError, TypeError) as e:
            raise _reply_error(e) from None

    async def close(self) -> None:
        await self.client.close()


def open_backend(cfg: EndpointConfig, field: str) -> Backend:
    """The API backend `cfg` names; `field` is its recipe section, for error messages."""
    if cfg.backend == "openai":
        return OpenAIBackend(cfg, field)
    if cfg.backend == "anthropic":
        return AnthropicBackend(cfg, field)
    raise ValueError(f"{field}.backend {cfg.backend!r} has no API backend here")  # offline: the caller builds it

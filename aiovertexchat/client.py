"""`AsyncVertexChat`: composes target URL, auth, transport and streaming into the public client."""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from ._auth.google import AuthStats, GoogleAuth
from ._auth.sources import AuthProvider, CallableToken, NoAuth, StaticToken, TokenFunc
from ._http.attempts import Call, Dispatcher
from ._http.endpoints import ResolvedEndpoint, resolve_target
from ._http.stream import ChatStream
from ._http.transport import Transport
from ._protocol.google_options import (
    GoogleExtras,
    check_thinking_conflict,
    effective_google,
    merge_google,
)
from ._protocol.params import CompletionParams, ParseParams, build_body, check_param_names
from ._protocol.structured import ParsedChatCompletion, parse_completion, resolve_response_format
from ._protocol.thoughts import finish_completion, stream_separator
from ._reliability.client_stats import ClientStats
from ._reliability.concurrency import ConcurrencyLimiter
from ._reliability.ratelimit import RateLimit, RateLimiter
from ._reliability.retry import RetryPolicy
from ._reliability.timeouts import Timeouts, as_timeouts
from ._telemetry import make_observer
from .errors import (
    ConfigurationError,
    InvalidRequestError,
    UnknownParameterError,
)
from .types import ChatCompletion, ResponseInfo

if TYPE_CHECKING:
    from .batch import BatchRun

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - exercised on 3.10 only
    from typing_extensions import Unpack

__all__ = ["AsyncVertexChat", "ResponseInfo"]

_T = TypeVar("_T")
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_SSE_HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}


class Completions:
    """`client.chat.completions`: the chat-completions resource."""

    def __init__(self, client: AsyncVertexChat) -> None:
        self._client = client

    @overload
    async def create(
        self,
        *,
        messages: Sequence[Any],
        model: str | None = ...,
        stream: Literal[False] = ...,
        extra_body: Mapping[str, Any] | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        timeout: float | Timeouts | None = ...,
        retry: RetryPolicy | None = ...,
        google: GoogleExtras | Mapping[str, Any] | None = ...,
        separate_thoughts: bool = ...,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        messages: Sequence[Any],
        model: str | None = ...,
        stream: Literal[True],
        extra_body: Mapping[str, Any] | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        timeout: float | Timeouts | None = ...,
        retry: RetryPolicy | None = ...,
        google: GoogleExtras | Mapping[str, Any] | None = ...,
        separate_thoughts: bool = ...,
        **params: Unpack[CompletionParams],
    ) -> ChatStream: ...

    async def create(
        self,
        *,
        messages: Sequence[Any],
        model: str | None = None,
        stream: bool = False,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | Timeouts | None = None,
        retry: RetryPolicy | None = None,
        google: GoogleExtras | Mapping[str, Any] | None = None,
        separate_thoughts: bool = True,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion | ChatStream:
        """Create a chat completion; with `stream=True`, a `ChatStream` of chunks.

        Args:
            messages: the conversation, as OpenAI message dicts (`{"role", "content", ...}`).
            model: the model ("google/gemini-2.5-flash" on managed Gemini, which needs the
                publisher prefix; whatever the server serves elsewhere). None: the server's.
            stream: False (default) returns a `ChatCompletion`; True returns a `ChatStream`
                once the response headers have arrived.
            extra_body: fields merged into the JSON body last, sent as given (server-specific
                parameters).
            extra_headers: headers for this call, over the client's `default_headers`.
            timeout: a `Timeouts`, or seconds for the total deadline over all attempts, stream
                included. Default: the client's.
            retry: a `RetryPolicy` replacing the client's for this call.
            google: Gemini's extras (`GoogleExtras` or a dict), sent as
                `"extra_body": {"google": ...}`.
            separate_thoughts: move thoughts (`<marker>` tags, `thought: true` pieces) from
                `content` to `reasoning` (default True).
            **params: the OpenAI request parameters (`max_tokens`, `temperature`, `tools`,
                `response_format`, ...; see `CompletionParams`). None leaves one out.

        Raises:
            UnknownParameterError: a parameter name the API does not have (a `TypeError`);
                nothing is sent, and the message suggests the closest name.
            InvalidRequestError: a request refused before sending (empty `messages`, a bare
                model on managed Gemini, `ConflictingParametersError`, `MediaError`, ...).
            APIStatusError: the server answered an error status after retries (its subclasses:
                `BadRequestError` 400, `AuthenticationError` 401, `PermissionDeniedError` 403,
                `NotFoundError` 404, `RateLimitError` 429, `InternalServerError` 5xx, ...).
            APITimeoutError: a limit of `Timeouts` fired (`.kind` names which).
            APIConnectionError: no usable answer arrived (refused, reset, DNS, TLS).
            APIResponseValidationError: a 2xx answer that is not a chat completion (not
                retried: the server did the work).
            TokenRefreshError: no access token could be obtained.
            Errors while iterating a stream: `StreamInterruptedError` / `StreamTimeoutError`
            (with `.partial`), `ResponseTooLargeError`, `APIStatusError` for an error event.
            Every failure after retries carries `.attempts`, one line per attempt.
        """
        check_param_names(params, call_keywords=_CALL_KEYWORDS)
        client = self._client
        client._check_model(model)
        extra_body = merge_google(extra_body, google)
        options = effective_google(extra_body)
        check_thinking_conflict(params, extra_body, options)
        body = build_body(
            model=model, messages=messages, stream=stream, params=params, extra_body=extra_body
        )
        call = client._call(
            body, params, stream=stream, extra_headers=extra_headers, timeout=timeout,
            retry=retry, model=model,
        )
        await client._ensure_started()
        dispatcher = client._dispatcher
        if stream:
            return await dispatcher.open_stream(
                call,
                new_chunk_hook=lambda: stream_separator(options, separate=separate_thoughts),
            )
        completion = await dispatcher.complete(call)
        finish_completion(completion, options, separate=separate_thoughts)
        return completion

    @overload
    async def parse(
        self,
        *,
        messages: Sequence[Any],
        response_format: type[_T],
        model: str | None = ...,
        extra_body: Mapping[str, Any] | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        timeout: float | Timeouts | None = ...,
        retry: RetryPolicy | None = ...,
        google: GoogleExtras | Mapping[str, Any] | None = ...,
        separate_thoughts: bool = ...,
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[_T]: ...

    @overload
    async def parse(
        self,
        *,
        messages: Sequence[Any],
        response_format: Mapping[str, Any],
        model: str | None = ...,
        extra_body: Mapping[str, Any] | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        timeout: float | Timeouts | None = ...,
        retry: RetryPolicy | None = ...,
        google: GoogleExtras | Mapping[str, Any] | None = ...,
        separate_thoughts: bool = ...,
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[Any]: ...

    async def parse(
        self,
        *,
        messages: Sequence[Any],
        response_format: type[Any] | Mapping[str, Any],
        model: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | Timeouts | None = None,
        retry: RetryPolicy | None = None,
        google: GoogleExtras | Mapping[str, Any] | None = None,
        separate_thoughts: bool = True,
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[Any]:
        """A completion whose `choices[i].message.parsed` is the answer, validated.

        `response_format`: a pydantic model class, a msgspec Struct / dataclass / TypedDict
        type (parsed into an instance), a JSON schema dict or `{"type": "json_object"}` (parsed
        into plain JSON values). Schemas are made Vertex-compatible first (references inlined;
        a recursive schema raises `UnsupportedSchemaError` before sending). Raises
        `LengthFinishReasonError`, `ContentFilterFinishReasonError` or `InvalidJSONError`.
        """
        if "stream" in params:
            raise UnknownParameterError(
                "parse() does not stream: for a stream, fmt = resolve_response_format(...), "
                "create(stream=True, response_format=fmt.wire, ...), then "
                "parse_completion(stream.completion, fmt)"
            )
        check_param_names(params, call_keywords=_CALL_KEYWORDS)
        fmt = resolve_response_format(response_format)
        completion = await self.create(
            messages=messages,
            model=model,
            extra_body=extra_body,
            extra_headers=extra_headers,
            timeout=timeout,
            retry=retry,
            google=google,
            separate_thoughts=separate_thoughts,
            response_format=fmt.wire,
            **params,
        )
        return parse_completion(completion, fmt)


# The keywords of create() and parse() besides the body parameters, read from their signatures so
# the list never goes stale: a mistyped one (`seperate_thoughts=`) is suggested by name.
_CALL_KEYWORDS = frozenset(
    name
    for method in (Completions.create, Completions.parse)
    for name in inspect.signature(method).parameters
) - {"self", "params"}


class Chat:
    """`client.chat`: groups the chat resources, as in the OpenAI SDK."""

    def __init__(self, client: AsyncVertexChat) -> None:
        self.completions = Completions(client)


class AsyncVertexChat:
    """Async client for Vertex AI's OpenAI-compatible Chat Completions API (or any compatible URL).

    Use as `async with AsyncVertexChat(...) as client:` or call `await client.aclose()`.

    Where requests go (first match wins): `base_url`; else Vertex from `project` / `location`
    (or `dedicated_domain`); else the `OPENAI_BASE_URL` environment variable; else Vertex from
    `GOOGLE_CLOUD_PROJECT` / `GOOGLE_CLOUD_LOCATION`.

    Args:
        project: Google Cloud project id or number (Vertex URLs). Default: the
            `GOOGLE_CLOUD_PROJECT` environment variable.
        location: Vertex region such as "us-central1", or "global". Default:
            `GOOGLE_CLOUD_LOCATION` (one of the two is required for a Vertex URL).
        endpoint: "openapi" for managed Gemini (default), or the numeric id of a self-deployed
            endpoint (vLLM, TGI, ...).
        api_version: "v1" (default) or "v1beta1".
        base_url: any OpenAI-compatible base URL (everything before `/chat/completions`);
            overrides the Vertex settings.
        api_key: a fixed bearer token (an access token for Vertex, a key elsewhere). Default
            for non-Vertex URLs: `OPENAI_API_KEY`.
        token: a callable (sync or async) returning the current access token; called per attempt.
        auth: an `AuthProvider` such as `GoogleAuth(...)`. Give at most one of `api_key`,
            `token` and `auth`; with none, Vertex URLs use Application Default Credentials
            through `GoogleAuth()` (refreshed in the background) and other URLs send no token.
        dedicated_domain: the DNS name of a dedicated endpoint (`...prediction.vertexai.goog`).
        max_concurrency: most requests in flight (default 100; None: no limit). Also sizes the
            connection pool.
        min_concurrency: the floor the adaptive limit never goes below (default 1).
        adaptive_concurrency: halve the limit on 429/503 and regrow it slowly (default True).
        rate_limit: a `RateLimit(rpm=..., tpm=...)` applied before sending (default None).
        retry: the `RetryPolicy` (default: 4 attempts, full-jitter backoff 0.5 s .. 20 s,
            `Retry-After` obeyed up to 60 s, a retry budget).
        timeout: a `Timeouts`, or seconds for the total deadline of each call (default
            `Timeouts()`: connect 10 s, first byte 600 s, idle 120 s, no total).
        max_connections: connection pool size (default: `max_concurrency`, or 100).
        default_headers: headers sent with every request.
        environ: the environment to read instead of `os.environ` (tests, sandboxes).
        telemetry: OpenTelemetry traces and metrics of every call (default True; README
            "Telemetry"). Takes effect only when `opentelemetry-api` is installed (the `otel`
            extra); without it, or with False, nothing of OpenTelemetry is imported or run.
            Read from `environ`: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true records
            message content (never by default), AIOVERTEXCHAT_OTEL_CHUNK_LATENCY=true the
            per-chunk latency histogram (one record per chunk, at the stream's end).
        tracer_provider: the `TracerProvider` spans go to (default None: the global one).
        meter_provider: the `MeterProvider` metrics go to (default None: the global one).
        trace_propagation: send the W3C trace context (`traceparent`, through the configured
            propagators) with each request, so a traced server joins the caller's trace
            (default True).

    Raises:
        ConfigurationError: settings that cannot work together or are malformed (an unknown
            location, an endpoint that is neither "openapi" nor a number, no project for a
            Vertex URL, more than one of `api_key` / `token` / `auth`, limits below 1). Nothing
            blocks or touches the network here: credentials are looked up at first use.
    """

    def __init__(
        self,
        project: str | None = None,
        location: str | None = None,
        endpoint: str = "openapi",
        api_version: str = "v1",
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        token: TokenFunc | None = None,
        auth: AuthProvider | None = None,
        dedicated_domain: str | None = None,
        max_concurrency: int | None = 100,
        min_concurrency: int = 1,
        adaptive_concurrency: bool = True,
        rate_limit: RateLimit | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeouts | float | None = None,
        max_connections: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
        telemetry: bool = True,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        trace_propagation: bool = True,
    ) -> None:
        env = os.environ if environ is None else environ
        self._target: ResolvedEndpoint = resolve_target(
            project=project,
            location=location,
            endpoint=str(endpoint),
            api_version=api_version,
            base_url=base_url,
            dedicated_domain=dedicated_domain,
            environ=env,
        )
        self._auth = self._choose_auth(api_key=api_key, token=token, auth=auth, environ=env)
        self._url = self._target.chat_completions_url
        self._timeouts = as_timeouts(timeout, Timeouts())
        self._default_headers = dict(default_headers or {})
        # The pool follows the concurrency limit: one connection per request in flight.
        if max_connections is None:
            max_connections = max_concurrency if max_concurrency is not None else 100
        self._transport = Transport(max_connections=max_connections)
        self._dispatcher = Dispatcher(
            transport=self._transport,
            auth=self._auth,
            url=self._url,
            limiter=ConcurrencyLimiter(
                max_concurrency, adaptive=adaptive_concurrency, floor=min_concurrency
            ),
            rate_limiter=RateLimiter(rate_limit) if rate_limit is not None else None,
            policy=retry if retry is not None else RetryPolicy(),
            sleep=asyncio.sleep,
        )
        if telemetry:
            self._dispatcher.observer = make_observer(
                url=self._url,
                limiter=self._dispatcher.limiter,
                rate_limiter=self._dispatcher.rate_limiter,
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
                propagate=trace_propagation,
                environ=env,
            )
        self._started = False
        self._closed = False
        self.chat = Chat(self)

    def _choose_auth(
        self,
        *,
        api_key: str | None,
        token: TokenFunc | None,
        auth: AuthProvider | None,
        environ: Mapping[str, str],
    ) -> AuthProvider:
        choices = (("api_key", api_key), ("token", token), ("auth", auth))
        given = [name for name, value in choices if value is not None]
        if len(given) > 1:
            raise ConfigurationError(f"pass only one of api_key, token and auth (got {given})")
        if auth is not None:
            return auth
        if token is not None:
            return CallableToken(token)
        if api_key is not None:
            return StaticToken(api_key)
        env_key = environ.get("OPENAI_API_KEY")
        if env_key and (self._target.from_openai_env or not self._target.is_vertex):
            return StaticToken(env_key)
        if self._target.is_vertex:
            return self._default_vertex_auth()
        return NoAuth()

    def _default_vertex_auth(self) -> AuthProvider:
        """What a Vertex URL uses when no credentials were given: Application Default
        Credentials, looked up at first use in a thread (constructing never blocks or fails)."""
        return GoogleAuth()

    # -- lifecycle ----------------------------------------------------------------------------
    async def _ensure_started(self) -> None:
        if self._closed:
            raise RuntimeError("this AsyncVertexChat is closed; create a new client")
        if not self._started:
            self._started = True
            await self._auth.start()

    async def __aenter__(self) -> AsyncVertexChat:
        await self._ensure_started()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop background tasks and close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._dispatcher.observer is not None:
            self._dispatcher.observer.close()
        try:
            await self._auth.aclose()
        finally:
            await self._transport.aclose()

    @property
    def base_url(self) -> str:
        return self._target.base_url

    @property
    def auth_stats(self) -> AuthStats | None:
        """Token refresh counters of a `GoogleAuth` source; None for other sources."""
        stats = getattr(self._auth, "stats", None)
        return stats if isinstance(stats, AuthStats) else None

    @property
    def stats(self) -> ClientStats:
        """In-flight, queued, retries by cause, 429s, the adaptive limit, tokens used."""
        return self._dispatcher.stats()

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._dispatcher.policy

    @property
    def timeouts(self) -> Timeouts:
        return self._timeouts

    @property
    def connections_in_use(self) -> int:
        return self._transport.connections_in_use

    def __repr__(self) -> str:
        return f"<AsyncVertexChat base_url={self._target.base_url!r} auth={self._auth.kind}>"

    # -- batch --------------------------------------------------------------------------------
    def batch(
        self,
        requests: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 64,
        model: str | None = None,
        timeout: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> BatchRun:
        """Run many non-streaming completions; iterate the results as they complete.

        `requests` (iterable or async iterable) holds OpenAI batch lines as dicts
        (`{"custom_id", "body", ...}`), plain bodies with an id (`{"custom_id", "messages",
        ...}`) or `BatchRequest`s; it is consumed lazily, so memory follows `concurrency`, not
        the input size. A failing item yields a `BatchResult` carrying its error. `model` is
        used for bodies that name none. See `aiovertexchat.batch`.
        """
        from .batch import BatchRun

        options: dict[str, Any] = {}
        if timeout is not None:
            options["timeout"] = timeout
        if extra_headers is not None:
            options["extra_headers"] = extra_headers
        return BatchRun(self, requests, concurrency=concurrency, model=model, options=options)

    # -- requests -----------------------------------------------------------------------------
    def _check_model(self, model: str | None) -> None:
        if model is not None and self._target.base_url.endswith("/endpoints/openapi") and (
            "/" not in model
        ):
            raise InvalidRequestError(
                f"model {model!r} needs its publisher on the managed Gemini endpoint: "
                f"use 'google/{model}'"
            )

    def _call(
        self,
        body: bytes,
        params: Mapping[str, Any],
        *,
        stream: bool,
        extra_headers: Mapping[str, str] | None,
        timeout: Timeouts | float | None,
        retry: RetryPolicy | None,
        model: str | None = None,
    ) -> Call:
        headers = {**(_SSE_HEADERS if stream else _JSON_HEADERS), **self._default_headers}
        if extra_headers:
            headers.update(extra_headers)
        rate_limiter = self._dispatcher.rate_limiter
        estimate = 0
        if rate_limiter is not None:
            max_tokens = params.get("max_completion_tokens") or params.get("max_tokens")
            choices = params.get("n") or 1
            completion = None if max_tokens is None else int(max_tokens) * int(choices)
            estimate = rate_limiter.estimate(len(body), completion)
        return Call(
            body=body,
            headers=headers,
            timeouts=as_timeouts(timeout, self._timeouts),
            policy=retry if retry is not None else self._dispatcher.policy,
            token_estimate=estimate,
            model=model,
            params=params,
        )

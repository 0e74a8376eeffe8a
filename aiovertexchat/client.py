"""`AsyncVertexChat`: composes target URL, auth, transport and streaming into the public client."""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import sys
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload
from urllib.parse import urlencode, urlsplit

from ._auth.google import AuthStats, GoogleAuth, TokenNetwork
from ._auth.sources import AuthProvider, CallableToken, NoAuth, StaticToken, TokenFunc
from ._http.attempts import Call, Dispatcher
from ._http.endpoints import ResolvedEndpoint, resolve_target
from ._http.network import Network, SSLOption
from ._http.stream import ChatStream
from ._http.transport import Transport
from ._protocol.given import NOT_GIVEN, NotGiven, Omit, given
from ._protocol.google_options import (
    GoogleExtras,
    check_thinking_conflict,
    effective_google,
    merge_google,
)
from ._protocol.message_params import MessageParam
from ._protocol.params import CompletionParams, ParseParams, build_body, check_param_names
from ._protocol.stream_events import response_format_of
from ._protocol.structured import ParsedChatCompletion, parse_completion, resolve_response_format
from ._protocol.thoughts import finish_completion, stream_separator
from ._redact import redact, remember_header_secrets
from ._reliability.client_stats import ClientStats
from ._reliability.concurrency import ConcurrencyLimiter, warn_default_limit
from ._reliability.ratelimit import RateLimit
from ._reliability.retry import RetryPolicy
from ._reliability.sizes import SizeLimits
from ._reliability.timeouts import Timeouts, as_timeouts
from ._surface.options import ParseOptions
from ._surface.responses import (
    AsyncCompletionsWithRawResponse,
    AsyncCompletionsWithStreamingResponse,
)
from ._surface.streaming import AsyncChatCompletionStreamManager
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
_DEFAULT_MAX_CONCURRENCY = 100
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
        messages: Sequence[MessageParam],
        model: str | NotGiven | Omit | None = ...,
        stream: Literal[False] | NotGiven | Omit | None = ...,
        extra_body: Mapping[str, Any] | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        extra_query: Mapping[str, object] | None = ...,
        timeout: float | Timeouts | NotGiven | Omit | None = ...,
        retry: RetryPolicy | None = ...,
        google: GoogleExtras | Mapping[str, Any] | None = ...,
        separate_thoughts: bool = ...,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | NotGiven | Omit | None = ...,
        stream: Literal[True],
        extra_body: Mapping[str, Any] | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        extra_query: Mapping[str, object] | None = ...,
        timeout: float | Timeouts | NotGiven | Omit | None = ...,
        retry: RetryPolicy | None = ...,
        google: GoogleExtras | Mapping[str, Any] | None = ...,
        separate_thoughts: bool = ...,
        **params: Unpack[CompletionParams],
    ) -> ChatStream: ...

    @overload
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | NotGiven | Omit | None = ...,
        stream: bool,
        extra_body: Mapping[str, Any] | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        extra_query: Mapping[str, object] | None = ...,
        timeout: float | Timeouts | NotGiven | Omit | None = ...,
        retry: RetryPolicy | None = ...,
        google: GoogleExtras | Mapping[str, Any] | None = ...,
        separate_thoughts: bool = ...,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion | ChatStream: ...

    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        model: str | NotGiven | Omit | None = None,
        stream: bool | NotGiven | Omit | None = False,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        timeout: float | Timeouts | NotGiven | Omit | None = None,
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
            extra_query: URL query parameters for this call, over the client's
                `default_query`.
            timeout: a `Timeouts`, or seconds for the total deadline, counted from this call:
                waits for a slot, a rate token and an access token, all attempts, backoff and
                the whole body or stream. Default: the client's.
            retry: a `RetryPolicy` replacing the client's for this call.
            google: Gemini's extras (`GoogleExtras` or a dict), sent as
                `"extra_body": {"google": ...}`.
            separate_thoughts: move thoughts (`<marker>` tags, `thought: true` pieces) from
                `content` to `reasoning` (default True).
            **params: the OpenAI request parameters (`max_tokens`, `temperature`, `tools`,
                `response_format`, ...; see `CompletionParams`). None leaves one out.

        `NOT_GIVEN` and `omit` (ours or the OpenAI SDK's) are accepted wherever None is, and
        mean the same.

        Raises:
            UnknownParameterError: a parameter name the API does not have (a `TypeError`);
                nothing is sent, and the message suggests the closest name.
            InvalidRequestError: a request refused before sending (empty `messages`, a bare
                model on managed Gemini, `ConflictingParametersError`, `MediaError`, ...).
            APIStatusError: the server answered an error status after retries (its subclasses:
                `BadRequestError` 400, `AuthenticationError` 401, `PermissionDeniedError` 403,
                `NotFoundError` 404, `RateLimitError` 429, `InternalServerError` 5xx, ...).
            APITimeoutError: a limit of `Timeouts` fired (`.kind` names which; `.stage` what
                the call was waiting for).
            APIConnectionError: no usable answer arrived (refused, reset, DNS, TLS).
            APIResponseValidationError: a 2xx answer that is not a chat completion (not
                retried: the server did the work).
            TokenRefreshError: no access token could be obtained.
            ResponseTooLargeError: the answer is past `SizeLimits.body` (not retried).
            Errors while iterating a stream: `StreamInterruptedError` / `StreamTimeoutError`
            (with `.partial`), `ResponseTooLargeError` (`SizeLimits.event` / `.stream`, with
            `.partial`), `APIStatusError` for an error event.
            Every failure after retries carries `.attempts`, one line per attempt.
        """
        check_param_names(params, call_keywords=_CALL_KEYWORDS)
        # NOT_GIVEN / omit are falsy: only falsy values pay for the sentinel check, and for
        # mappings an empty one means the same as none.
        if not model:
            model = given(model)
        stream = bool(stream)
        if not timeout:
            timeout = given(timeout)
        if not google:
            google = given(google)
        client = self._client
        client._check_model(model)
        extra_body = merge_google(extra_body or None, google)
        options = effective_google(extra_body)
        check_thinking_conflict(params, extra_body, options)
        body = build_body(
            model=model, messages=messages, stream=stream, params=params, extra_body=extra_body
        )
        await client._ensure_started()
        if client._target.pending_project:
            await client._complete_target()
        call = client._call(
            body, params, stream=stream, extra_headers=extra_headers or None, timeout=timeout,
            retry=retry or None, extra_query=extra_query or None, model=model,
        )
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
        messages: Sequence[MessageParam],
        response_format: type[_T],
        model: str | NotGiven | Omit | None = ...,
        extra_body: Mapping[str, Any] | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        extra_query: Mapping[str, object] | None = ...,
        timeout: float | Timeouts | NotGiven | Omit | None = ...,
        retry: RetryPolicy | None = ...,
        google: GoogleExtras | Mapping[str, Any] | None = ...,
        separate_thoughts: bool = ...,
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[_T]: ...

    @overload
    async def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: Mapping[str, Any],
        model: str | NotGiven | Omit | None = ...,
        extra_body: Mapping[str, Any] | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        extra_query: Mapping[str, object] | None = ...,
        timeout: float | Timeouts | NotGiven | Omit | None = ...,
        retry: RetryPolicy | None = ...,
        google: GoogleExtras | Mapping[str, Any] | None = ...,
        separate_thoughts: bool = ...,
        **params: Unpack[ParseParams],
    ) -> ParsedChatCompletion[Any]: ...

    async def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[Any] | Mapping[str, Any],
        model: str | NotGiven | Omit | None = None,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        extra_query: Mapping[str, object] | None = None,
        timeout: float | Timeouts | NotGiven | Omit | None = None,
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
            extra_query=extra_query,
            timeout=timeout,
            retry=retry,
            google=google,
            separate_thoughts=separate_thoughts,
            response_format=fmt.wire,
            **params,
        )
        return parse_completion(completion, fmt)

    # -- the OpenAI SDK's other call shapes ---------------------------------------------------
    @functools.cached_property
    def with_raw_response(self) -> AsyncCompletionsWithRawResponse:
        """`create()` / `parse()` returning a `RawResponse` (`.headers`, `.status_code`,
        `.parse()`), as the OpenAI SDK's `with_raw_response`."""
        return AsyncCompletionsWithRawResponse(self)

    @functools.cached_property
    def with_streaming_response(self) -> AsyncCompletionsWithStreamingResponse:
        """`create()` / `parse()` as async context managers yielding a response whose
        `await .parse()` gives the result, as the OpenAI SDK's `with_streaming_response`."""
        return AsyncCompletionsWithStreamingResponse(self)

    @overload
    def stream(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[_T],
        **options: Unpack[ParseOptions],
    ) -> AsyncChatCompletionStreamManager[_T]: ...

    @overload
    def stream(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: Mapping[str, Any],
        **options: Unpack[ParseOptions],
    ) -> AsyncChatCompletionStreamManager[Any]: ...

    @overload
    def stream(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: NotGiven | Omit | None = ...,
        **options: Unpack[ParseOptions],
    ) -> AsyncChatCompletionStreamManager[None]: ...

    def stream(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[Any] | Mapping[str, Any] | NotGiven | Omit | None = None,
        **options: Unpack[ParseOptions],
    ) -> AsyncChatCompletionStreamManager[Any]:
        """A streamed completion as typed events, as the OpenAI SDK's `stream()` helper.

        `async with client.chat.completions.stream(...) as stream:` sends the request (a
        `create(stream=True)`); `async for event in stream` yields `ChunkEvent`,
        `ContentDeltaEvent` ("content.delta"), `ContentDoneEvent` ("content.done", with
        `.parsed` for a `response_format` type), `RefusalDeltaEvent`, `RefusalDoneEvent`,
        `FunctionToolCallArgumentsDeltaEvent` / `...DoneEvent`, and the logprobs events; then
        `await stream.get_final_completion()` gives a `ParsedChatCompletion`.
        `response_format` is what `parse()` takes. Unknown parameters raise here.
        """
        if "stream" in options:
            raise UnknownParameterError("stream() always streams: leave out stream=")
        check_param_names(
            [name for name in options if name not in _CALL_KEYWORDS], call_keywords=_CALL_KEYWORDS
        )
        fmt = response_format_of(given(response_format))
        tools = given(options.get("tools"))
        kwargs: dict[str, Any] = dict(options)
        if fmt is not None:
            kwargs["response_format"] = fmt.wire

        async def opener() -> ChatStream:
            result: ChatStream = await self.create(messages=messages, stream=True, **kwargs)
            return result

        return AsyncChatCompletionStreamManager(opener, fmt=fmt, tools=tools)


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


class Beta:
    """`client.beta`: `client.beta.chat.completions.parse` / `.stream` are the same methods
    as `client.chat.completions`' (the OpenAI SDK keeps them there for older code)."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat


class AsyncVertexChat:
    """Async client for Vertex AI's OpenAI-compatible Chat Completions API (or any compatible URL).

    Use as `async with AsyncVertexChat(...) as client:` or call `await client.aclose()` (or
    `await client.close()`).

    Where requests go (first match wins): `base_url`; else Vertex from `project` / `location`
    (or `dedicated_domain`); else the `OPENAI_BASE_URL` environment variable; else Vertex from
    `GOOGLE_CLOUD_PROJECT` / `GOOGLE_CLOUD_LOCATION`.

    Args:
        project: Google Cloud project id or number (Vertex URLs). Default: the
            `GOOGLE_CLOUD_PROJECT` environment variable, else the project Application Default
            Credentials name (`google.auth.default()`), looked up at first use.
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
            connection pool. Left at the default, a warning is issued (once) when requests
            queue behind it.
        min_concurrency: the floor the adaptive limit never goes below (default 1).
        adaptive_concurrency: halve the limit on 429/503 and regrow it slowly (default True).
        rate_limit: a `RateLimit(rpm=..., tpm=...)` applied before sending (default None).
        retry: the `RetryPolicy` (default: 4 attempts, full-jitter backoff 0.5 s .. 20 s,
            `Retry-After` obeyed up to 60 s, a retry budget).
        max_retries: the OpenAI SDK's setting: `retry=RetryPolicy(max_attempts=max_retries + 1)`
            with the other defaults (give `retry` or `max_retries`, not both).
        timeout: a `Timeouts`, or seconds for the total deadline of each call (default
            `Timeouts()`: connect 10 s, first byte 600 s (a non-streamed answer's body
            included), idle 120 s, total 900 s counted from `create()`).
        size_limits: a `SizeLimits(body=..., event=..., stream=...)`: the most decoded bytes
            (after decompression) accepted for a non-streamed answer (default 8 MiB), one
            stream event (1 MiB) and one stream (8 MiB). Past one, `ResponseTooLargeError`
            (`.limit_name`, `.limit`, `.partial` for streams), not retried.
        max_connections: connection pool size (default: `max_concurrency`, or 100).
        default_headers: headers sent with every request.
        default_query: URL query parameters sent with every request.
        proxy: the proxy URL for every request, chat calls and Google token refreshes alike
            (`http://[user:password@]host:port`; https targets go through a CONNECT tunnel).
            Default None: `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` from the environment,
            except for hosts in `NO_PROXY` (names and their subdomains, `host:port`, IPs, CIDR
            ranges, `*`), as curl, requests, httpx and the OpenAI SDK read them.
        trust_env: False ignores the proxy environment variables (default True).
        ssl: how servers are verified, for chat calls and token refreshes alike: an
            `ssl.SSLContext`, or the path of a PEM CA bundle (a file, or a directory of
            hashed certificates) to trust instead of the system's store (e.g. a private or
            corporate CA). Default None: the system's trust store (OpenSSL also reads
            `SSL_CERT_FILE` / `SSL_CERT_DIR`). False turns verification off, with a
            `UserWarning` and a log warning: anyone on the path could then read the token.
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
            Vertex URL, more than one of `api_key` / `token` / `auth`, limits below 1, a
            project or dedicated domain Google would not accept, a malformed proxy URL, an
            unreadable CA bundle). Nothing blocks or touches the network here: credentials
            (and a project from Application Default
            Credentials) are looked up at first use.
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
        max_concurrency: int | NotGiven | None = NOT_GIVEN,
        min_concurrency: int = 1,
        adaptive_concurrency: bool = True,
        rate_limit: RateLimit | None = None,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        timeout: Timeouts | float | NotGiven | None = None,
        max_connections: int | None = None,
        default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, object] | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        ssl: SSLOption = None,
        environ: Mapping[str, str] | None = None,
        size_limits: SizeLimits | None = None,
        telemetry: bool = True,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        trace_propagation: bool = True,
    ) -> None:
        env = os.environ if environ is None else environ
        if retry is not None and max_retries is not None:
            raise ConfigurationError("pass retry=RetryPolicy(...) or max_retries=N, not both")
        if max_retries is not None:
            if isinstance(max_retries, bool) or not isinstance(max_retries, int) or (
                max_retries < 0
            ):
                raise ConfigurationError(f"max_retries must be an int >= 0, not {max_retries!r}")
            retry = RetryPolicy(max_attempts=max_retries + 1)
        # Left at its default, the concurrency limit warns (once) when calls queue behind it:
        # code moved from the OpenAI SDK expects no limit at all.
        defaulted = isinstance(max_concurrency, NotGiven)
        if isinstance(max_concurrency, NotGiven):
            max_concurrency = _DEFAULT_MAX_CONCURRENCY
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
        if "@" in urlsplit(self._target.base_url).netloc and not isinstance(self._auth, NoAuth):
            # aiohttp would send Basic credentials from the URL and refuse the bearer token at
            # the first request with a bare ValueError: say so now, naming the fix.
            raise ConfigurationError(
                "the base URL carries credentials (user:password@host) and a token is "
                "configured too: only one Authorization header can be sent; drop the "
                "credentials from the URL, or the token"
            )
        self._default_query: dict[str, object] = dict(default_query or {})
        self._url = _with_query(self._target.chat_completions_url, self._default_query)
        self._timeouts = as_timeouts(given(timeout), Timeouts())
        self._policy = retry if retry is not None else RetryPolicy()
        self._default_headers = dict(default_headers or {})
        remember_header_secrets(self._default_headers)
        network = Network.from_options(
            proxy=proxy, ssl_option=ssl, trust_env=trust_env, environ=env
        )
        network.proxy_for(self._url)  # a proxy variable we cannot use fails here, named
        if isinstance(self._auth, GoogleAuth):
            # Token refreshes go the way chat calls go: same proxy, same trusted CAs.
            self._auth.use_network(TokenNetwork(network.proxy_for, network.ssl_context))
        # The pool follows the concurrency limit: one connection per request in flight.
        if max_connections is None:
            max_connections = max_concurrency if max_concurrency is not None else 100
        self._transport = Transport(max_connections=max_connections, network=network)
        self._dispatcher = Dispatcher(
            transport=self._transport,
            auth=self._auth,
            url=self._url,
            limiter=ConcurrencyLimiter(
                max_concurrency, adaptive=adaptive_concurrency, floor=min_concurrency,
                on_queue=warn_default_limit if defaulted else None,
            ),
            rate_limiter=rate_limit.limiter() if rate_limit is not None else None,
            policy=self._policy,
            sleep=asyncio.sleep,
            size_limits=size_limits,
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
        # The client that owns the pool, the limits and the lifecycle: itself, or for a copy
        # (`with_options`), the client it was copied from.
        self._owner: AsyncVertexChat = self
        # Auth sources replaced through `api_key = ...` after starting: closed with the client.
        self._retired: list[AuthProvider] = []
        self._project_lock = asyncio.Lock()
        self.chat = Chat(self)
        self.beta = Beta(self.chat)

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
        owner = self._owner
        if self._closed or owner._closed:
            raise RuntimeError("this AsyncVertexChat is closed; create a new client")
        if not owner._started:
            owner._started = True
            await owner._auth.start()
        if self._auth is not owner._auth and not self._started:
            self._started = True
            await self._auth.start()

    async def _complete_target(self) -> None:
        """Fill in the project from Application Default Credentials (first use only)."""
        async with self._project_lock:
            if not self._target.pending_project:
                return
            auth = self._auth
            if isinstance(auth, GoogleAuth):
                project = await auth.project()
            else:
                # Credentials were given another way; ADC is asked for the project alone.
                finder = GoogleAuth()
                try:
                    project = await finder.project()
                finally:
                    await finder.aclose()
            if not project:
                raise ConfigurationError(
                    "no Google Cloud project: Application Default Credentials name none; pass "
                    "project=... or set GOOGLE_CLOUD_PROJECT"
                )
            self._target = self._target.with_project(project)
            self._url = _with_query(self._target.chat_completions_url, self._default_query)

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
        """Stop background tasks and close every connection. Idempotent.

        A copy made by `with_options()` shares its original's pool: closing the copy closes
        only what the copy alone holds; closing the original closes the pool for both.
        """
        if self._closed:
            return
        self._closed = True
        if self._dispatcher.observer is not None:
            self._dispatcher.observer.close()
        retired, self._retired = self._retired, []
        try:
            for source in retired:
                await source.aclose()
            if self._owner is not self:
                if self._auth is not self._owner._auth:
                    await self._auth.aclose()
                return
            await self._auth.aclose()
        finally:
            if self._owner is self:
                try:
                    rate_limiter = self._dispatcher.rate_limiter
                    if rate_limiter is not None:
                        await rate_limiter.aclose()  # a shared (Redis) limiter hands back refunds
                finally:
                    await self._transport.aclose()

    async def close(self) -> None:
        """The same as `aclose()` (the OpenAI SDK's `await client.close()`)."""
        await self.aclose()

    # -- the OpenAI SDK's client options ------------------------------------------------------
    @property
    def api_key(self) -> str | None:
        """The fixed token sent (None when tokens come from elsewhere, e.g. ADC).

        Setting it replaces the credentials from the next request on, as Google's
        credential-refresh sample does with the OpenAI SDK (`client.api_key = creds.token`).
        """
        auth = self._auth
        return auth.token if isinstance(auth, StaticToken) else None

    @api_key.setter
    def api_key(self, value: str | None) -> None:
        # Typed `str | None` because google-auth types `credentials.token` so; None (or "") is
        # refused at run time: there is no token to send.
        # Every call carries its client's auth (`Call.auth`), so the swap takes effect from the
        # next request on; one already sending keeps the token it read.
        if not value:
            raise ConfigurationError("api_key must be a non-empty token")
        old, self._auth = self._auth, StaticToken(value)
        if self._owner is self or old is not self._owner._auth:
            self._retired.append(old)  # closed with this client (it may have been started)

    def copy(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: Timeouts | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | None = None,
        default_headers: Mapping[str, str] | None = None,
        set_default_headers: Mapping[str, str] | None = None,
        default_query: Mapping[str, object] | None = None,
        set_default_query: Mapping[str, object] | None = None,
    ) -> AsyncVertexChat:
        """A client with some settings changed that shares this one's connection pool,
        concurrency and rate limits, counters and (unless `api_key` is given) credentials, as
        the OpenAI SDK's `copy()` / `with_options()`.

        `default_headers` / `default_query` are merged over the current ones;
        `set_default_headers` / `set_default_query` replace them. `timeout`, `max_retries`
        (or `retry`) and `base_url` replace the current setting. Nothing is opened or closed.
        """
        if default_headers is not None and set_default_headers is not None:
            raise ValueError("pass default_headers or set_default_headers, not both")
        if default_query is not None and set_default_query is not None:
            raise ValueError("pass default_query or set_default_query, not both")
        if retry is not None and not isinstance(max_retries, NotGiven):
            raise ConfigurationError("pass retry=RetryPolicy(...) or max_retries=N, not both")
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new._owner = self._owner
        new._started = False
        new._closed = False
        new._retired = []
        new._project_lock = asyncio.Lock()
        if base_url is not None:
            new._target = resolve_target(
                project=None, location=None, endpoint="openapi", api_version="v1",
                base_url=base_url, environ={},
            )
        if api_key is not None:
            new._auth = StaticToken(api_key)
        if not isinstance(timeout, NotGiven):
            new._timeouts = as_timeouts(timeout, Timeouts())
        if retry is not None:
            new._policy = retry
        elif not isinstance(max_retries, NotGiven):
            new._policy = RetryPolicy(max_attempts=max_retries + 1)
        if set_default_headers is not None:
            new._default_headers = dict(set_default_headers)
        elif default_headers is not None:
            new._default_headers = {**self._default_headers, **default_headers}
        if set_default_query is not None:
            new._default_query = dict(set_default_query)
        elif default_query is not None:
            new._default_query = {**self._default_query, **default_query}
        new._url = _with_query(new._target.chat_completions_url, new._default_query)
        new.chat = Chat(new)
        new.beta = Beta(new.chat)
        return new

    with_options = copy

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
        return self._policy

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt (`retry_policy.max_attempts - 1`)."""
        return self._policy.max_attempts - 1

    @property
    def timeout(self) -> Timeouts:
        return self._timeouts

    @property
    def timeouts(self) -> Timeouts:
        return self._timeouts

    @property
    def size_limits(self) -> SizeLimits:
        return self._dispatcher.size_limits

    @property
    def connections_in_use(self) -> int:
        return self._transport.connections_in_use

    def __repr__(self) -> str:
        base_url = redact(self._target.base_url)  # a password in the URL stays out
        return f"<AsyncVertexChat base_url={base_url!r} auth={self._auth.kind}>"

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
        extra_query: Mapping[str, object] | None = None,
        model: str | None = None,
    ) -> Call:
        headers = {**(_SSE_HEADERS if stream else _JSON_HEADERS), **self._default_headers}
        if extra_headers:
            remember_header_secrets(extra_headers)
            headers.update(extra_headers)
        rate_limiter = self._dispatcher.rate_limiter
        estimate = 0
        if rate_limiter is not None:
            max_tokens = params.get("max_completion_tokens") or params.get("max_tokens")
            choices = params.get("n") or 1
            completion = None if max_tokens is None else int(max_tokens) * int(choices)
            estimate = rate_limiter.estimate(len(body), completion)
        url = self._url
        if extra_query:
            url = _with_query(self._target.chat_completions_url,
                              {**self._default_query, **extra_query})
        return Call(
            body=body,
            headers=headers,
            timeouts=as_timeouts(timeout, self._timeouts),
            policy=retry if retry is not None else self._policy,
            token_estimate=estimate,
            url=url,
            auth=self._auth,
            model=model,
            params=params,
        )


def _with_query(url: str, query: Mapping[str, object]) -> str:
    """`url` with `query` appended (values that are None or "not given" left out)."""
    items = [(name, value) for name, value in query.items() if given(value) is not None]
    if not items:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode(items, doseq=True)}"

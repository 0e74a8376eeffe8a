"""`AsyncVertexChat`: composes target URL, auth, transport and streaming into the public client."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import msgspec

from .auth import AuthProvider, CallableToken, NoAuth, StaticToken, TokenFunc
from .endpoints import Target, resolve_target
from .errors import (
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    make_status_error,
    request_id_from_headers,
)
from .extras import GoogleExtras, check_thinking_conflict, effective_google, merge_google
from .google_auth import AuthStats, GoogleAuth
from .params import CompletionParams, ParseParams, build_body, check_param_names
from .stream import ChatStream, StreamMetrics
from .structured import ParsedChatCompletion, parse_completion, resolve_response_format
from .thoughts import finish_completion, stream_separator
from .transport import Response, Transport
from .types import ChatCompletion

if TYPE_CHECKING:
    from .batch import BatchRun

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - exercised on 3.10 only
    from typing_extensions import Unpack

__all__ = ["AsyncVertexChat", "ResponseInfo"]

_T = TypeVar("_T")
_completion_decoder = msgspec.json.Decoder(ChatCompletion)
_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_SSE_HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}


class ResponseInfo(msgspec.Struct, frozen=True):
    """HTTP metadata of the exchange behind a completion."""

    request_id: str | None
    headers: Mapping[str, str]
    status_code: int


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
        timeout: float | None = ...,
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
        timeout: float | None = ...,
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
        timeout: float | None = None,
        google: GoogleExtras | Mapping[str, Any] | None = None,
        separate_thoughts: bool = True,
        **params: Unpack[CompletionParams],
    ) -> ChatCompletion | ChatStream:
        """Create a chat completion; with `stream=True`, a `ChatStream` of chunks.

        Parameters are named as in the OpenAI API; `None` leaves one out. `extra_body` is merged
        into the JSON body last. `timeout` (seconds) bounds the whole exchange, stream included.
        `google` carries Gemini's extras (sent as `"extra_body": {"google": ...}`). Thoughts
        (`<marker>` tags, `thought: true` pieces) go to `reasoning` unless
        `separate_thoughts=False`.
        """
        check_param_names(params)
        client = self._client
        client._check_model(model)
        extra_body = merge_google(extra_body, google)
        options = effective_google(extra_body)
        check_thinking_conflict(params, extra_body, options)
        body = build_body(
            model=model, messages=messages, stream=stream, params=params, extra_body=extra_body
        )
        if stream:
            separator = stream_separator(options, separate=separate_thoughts)
            chat_stream = await client._open_stream(
                body, extra_headers=extra_headers, timeout=timeout
            )
            chat_stream._chunk_hook = separator
            return chat_stream
        completion = await client._complete(body, extra_headers=extra_headers, timeout=timeout)
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
        timeout: float | None = ...,
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
        timeout: float | None = ...,
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
        timeout: float | None = None,
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
            raise TypeError(
                "parse() does not stream: for a stream, fmt = resolve_response_format(...), "
                "create(stream=True, response_format=fmt.wire, ...), then "
                "parse_completion(stream.completion, fmt)"
            )
        check_param_names(params)
        fmt = resolve_response_format(response_format)
        completion = await self.create(
            messages=messages,
            model=model,
            extra_body=extra_body,
            extra_headers=extra_headers,
            timeout=timeout,
            google=google,
            separate_thoughts=separate_thoughts,
            response_format=fmt.wire,
            **params,
        )
        return parse_completion(completion, fmt)


class Chat:
    """`client.chat`: groups the chat resources, as in the OpenAI SDK."""

    def __init__(self, client: AsyncVertexChat) -> None:
        self.completions = Completions(client)


class AsyncVertexChat:
    """Async client for Vertex AI's OpenAI-compatible Chat Completions API (or any compatible URL).

    Use as `async with AsyncVertexChat(...) as client:` or call `await client.aclose()`.
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
        max_connections: int = 100,
        timeout: float | None = 600.0,
        connect_timeout: float | None = 10.0,
        default_headers: Mapping[str, str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self._target: Target = resolve_target(
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
        self._timeout = timeout
        self._default_headers = dict(default_headers or {})
        self._transport = Transport(
            max_connections=max_connections, connect_timeout=connect_timeout
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
            raise ValueError(
                f"model {model!r} needs its publisher on the managed Gemini endpoint: "
                f"use 'google/{model}'"
            )

    async def _send(
        self,
        body: bytes,
        *,
        accept_stream: bool,
        extra_headers: Mapping[str, str] | None,
        timeout: float | None,
    ) -> Response:
        """POST the body; return a response with a success status, or raise a typed error.

        A 401 invalidates the token; a source that can mint a new one gets one more attempt.
        """
        await self._ensure_started()
        base = _SSE_HEADERS if accept_stream else _JSON_HEADERS
        auth_retry_left = self._auth.refreshable
        while True:
            headers = {**base, **self._default_headers, **await self._auth.headers()}
            if extra_headers:
                headers.update(extra_headers)
            response = await self._transport.post(
                self._url, body, headers, timeout=self._timeout if timeout is None else timeout
            )
            if response.status < 300:
                return response
            error = await self._status_error(response)
            if isinstance(error, AuthenticationError):
                self._auth.invalidate()
                if auth_retry_left:
                    auth_retry_left = False
                    continue
            raise error

    async def _status_error(self, response: Response) -> APIStatusError:
        raw = await response.read_error_body()
        if 300 <= response.status < 400:
            location = response.headers.get("Location", "?")
            return make_status_error(
                response.status,
                f"redirect to {location} not followed: credentials stay with the configured "
                "origin; point base_url at the final URL".encode(),
                headers=response.headers,
            )
        return make_status_error(response.status, raw, headers=response.headers)

    async def _complete(
        self, body: bytes, *, extra_headers: Mapping[str, str] | None, timeout: float | None
    ) -> ChatCompletion:
        response = await self._send(
            body, accept_stream=False, extra_headers=extra_headers, timeout=timeout
        )
        raw = await response.read()
        try:
            completion = _completion_decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise make_status_error(
                502,
                b"the server answered 2xx with a body that is not a chat.completion: "
                + raw[:200],
                headers=response.headers,
            ) from exc
        completion._response = ResponseInfo(  # type: ignore[attr-defined]
            request_id_from_headers(response.headers), dict(response.headers), response.status
        )
        return completion

    async def _open_stream(
        self, body: bytes, *, extra_headers: Mapping[str, str] | None, timeout: float | None
    ) -> ChatStream:
        metrics = StreamMetrics(started_at=time.perf_counter())
        response = await self._send(
            body, accept_stream=True, extra_headers=extra_headers, timeout=timeout
        )
        metrics.headers_at = time.perf_counter()
        request_id = request_id_from_headers(response.headers)
        return ChatStream(response, metrics=metrics, request_id=request_id)

"""`VertexChat`: the blocking client, for code written against `openai.OpenAI`.

Same constructor and methods as `AsyncVertexChat`, without `await`: streams are plain
iterators, `with client.chat.completions.stream(...) as stream:` yields typed events. Every
call runs on one private event loop in a background thread owned by the client (`LoopThread`),
through the same `AsyncVertexChat`, so limits, retries and connection reuse are shared by all
the threads that use one client.
"""

from __future__ import annotations

import contextlib
import sys
import weakref
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from .._auth.google import AuthStats
from .._auth.sources import AuthProvider, TokenFunc
from .._http.network import SSLOption
from .._http.stream import ChatStream, StreamMetrics
from .._protocol.given import NOT_GIVEN, NotGiven, Omit
from .._protocol.message_params import MessageParam
from .._protocol.stream_events import ChatCompletionStreamEvent
from .._protocol.structured import ParsedChatCompletion
from .._reliability.client_stats import ClientStats
from .._reliability.ratelimit import RateLimit
from .._reliability.retry import RetryPolicy
from .._reliability.sizes import SizeLimits
from .._reliability.timeouts import Timeouts
from ..client import AsyncVertexChat, Completions
from ..types import ChatCompletion, ChatCompletionChunk, ResponseInfo, Usage
from .loop import LoopThread
from .options import CreateOptions, ParseOptions
from .responses import RawResponse, _encoded, _Metadata
from .streaming import AsyncChatCompletionStream, AsyncChatCompletionStreamManager

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from typing import Self, Unpack
    else:
        from typing_extensions import Self, Unpack

__all__ = [
    "ChatCompletionStream",
    "ChatCompletionStreamManager",
    "StreamedResponse",
    "SyncChatStream",
    "VertexChat",
]

R = TypeVar("R")
T = TypeVar("T")

_END: Any = object()


async def _next_or_end(iterator: Any) -> Any:
    # StopAsyncIteration does not cross threads well as an exception: return a marker.
    try:
        return await iterator.__anext__()
    except StopAsyncIteration:
        return _END


_closing: set[Any] = set()


def _close_later(closer: Any) -> None:
    """On the loop: start closing an abandoned stream (its connection goes back)."""
    import asyncio

    task = asyncio.ensure_future(closer())
    _closing.add(task)  # held until done: a task only weakly referenced may vanish
    task.add_done_callback(_closing.discard)


class SyncChatStream:
    """A streamed completion as a plain iterator of `ChatCompletionChunk`s (what
    `VertexChat....create(stream=True)` returns); also a context manager that closes it.

    `.completion`, `.usage`, `.finished`, `.metrics`, `.request_id`, `.response` as on
    `ChatStream`; `close()` releases the connection (a stream dropped unclosed is closed too).
    """

    def __init__(self, stream: ChatStream, loop: LoopThread) -> None:
        self._stream = stream
        self._loop = loop
        self._closed = False

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        return self

    def __next__(self) -> ChatCompletionChunk:
        chunk: ChatCompletionChunk = self._loop.run(_next_or_end(self._stream))
        if chunk is _END:
            self._closed = True
            raise StopIteration
        return chunk

    @property
    def completion(self) -> ChatCompletion:
        return self._stream.completion

    @property
    def usage(self) -> Usage | None:
        return self._stream.usage

    @property
    def finished(self) -> bool:
        return self._stream.finished

    @property
    def metrics(self) -> StreamMetrics:
        return self._stream.metrics

    @property
    def request_id(self) -> str | None:
        return self._stream.request_id

    @property
    def response(self) -> ResponseInfo:
        return self._stream.response

    @property
    def restarts(self) -> int:
        return self._stream.restarts

    def close(self) -> None:
        """Stop reading and release the connection. Safe to call more than once."""
        if not self._closed:
            self._closed = True
            self._loop.run(self._stream.aclose())

    def __enter__(self) -> SyncChatStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # The ChatStream must be closed (and dropped) on its own loop, not in this thread.
        if not getattr(self, "_closed", True):
            self._loop.call_soon(_close_later, self._stream.aclose)

    def __repr__(self) -> str:
        return f"<SyncChatStream of {self._stream!r}>"


class ChatCompletionStream(Generic[T]):
    """Typed events of one streamed completion, as a plain iterator (the sync side of
    `AsyncChatCompletionStream`), then `get_final_completion()`."""

    def __init__(self, stream: AsyncChatCompletionStream[T], loop: LoopThread) -> None:
        self._stream = stream
        self._loop = loop

    def __iter__(self) -> Iterator[ChatCompletionStreamEvent[T]]:
        return self

    def __next__(self) -> ChatCompletionStreamEvent[T]:
        event: ChatCompletionStreamEvent[T] = self._loop.run(_next_or_end(self._stream))
        if event is _END:
            raise StopIteration
        return event

    def until_done(self) -> Self:
        self._loop.run(self._stream.until_done())
        return self

    def get_final_completion(self) -> ParsedChatCompletion[T]:
        return self._loop.run(self._stream.get_final_completion())

    @property
    def current_completion_snapshot(self) -> ChatCompletion:
        return self._stream.current_completion_snapshot

    @property
    def response(self) -> ResponseInfo:
        return self._stream.response

    def close(self) -> None:
        self._loop.run(self._stream.close())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class ChatCompletionStreamManager(Generic[T]):
    """What the sync `stream()` returns: `with` sends the request and yields the
    `ChatCompletionStream`, and closes it when the block ends."""

    def __init__(self, manager: AsyncChatCompletionStreamManager[T], loop: LoopThread) -> None:
        self._manager = manager
        self._loop = loop
        self._stream: ChatCompletionStream[T] | None = None

    def __enter__(self) -> ChatCompletionStream[T]:
        stream = self._loop.run(self._manager.__aenter__())
        self._stream = ChatCompletionStream(stream, self._loop)
        return self._stream

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            self._stream.close()


class StreamedResponse(_Metadata, Generic[R]):
    """The sync `with_streaming_response` response: `.headers`, `.status_code`, `.request_id`,
    `.parse()`, `.read()` / `.text()` / `.json()` (non-streamed calls), `.close()`."""

    __slots__ = ("_parsed",)

    def __init__(self, parsed: R, info: ResponseInfo, url: str) -> None:
        super().__init__(info, url)
        self._parsed = parsed

    def parse(self) -> R:
        return self._parsed

    def read(self) -> bytes:
        return _encoded(self._parsed).encode()

    def text(self) -> str:
        return _encoded(self._parsed)

    def json(self) -> Any:
        import json

        return json.loads(_encoded(self._parsed))

    def close(self) -> None:
        if isinstance(self._parsed, SyncChatStream):
            self._parsed.close()


class ResponseContextManager(Generic[R]):
    """`with ... as response:` sends the request on entry and closes a stream on exit."""

    def __init__(self, opener: Any) -> None:
        self._opener = opener
        self._response: StreamedResponse[R] | None = None

    def __enter__(self) -> StreamedResponse[R]:
        self._response = self._opener()
        return self._response

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._response is not None:
            self._response.close()


class SyncCompletionsWithRawResponse:
    """`client.chat.completions.with_raw_response` of the sync client."""

    def __init__(self, completions: SyncCompletions) -> None:
        self._completions = completions

    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: Literal[False] | NotGiven | Omit | None = ...,
        **options: Unpack[CreateOptions],
    ) -> RawResponse[ChatCompletion]: ...

    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: Literal[True],
        **options: Unpack[CreateOptions],
    ) -> RawResponse[SyncChatStream]: ...

    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: bool,
        **options: Unpack[CreateOptions],
    ) -> RawResponse[ChatCompletion] | RawResponse[SyncChatStream]: ...

    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: bool | NotGiven | Omit | None = False,
        **options: Unpack[CreateOptions],
    ) -> RawResponse[ChatCompletion] | RawResponse[SyncChatStream]:
        owner = self._completions
        raw = owner._loop.run(
            owner._async.with_raw_response.create(
                messages=messages, stream=bool(stream), **options
            )
        )
        parsed = raw.parse()
        if isinstance(parsed, ChatStream):
            return RawResponse(SyncChatStream(parsed, owner._loop), raw._info, raw.url)
        return RawResponse(parsed, raw._info, raw.url)

    @overload
    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[T],
        **options: Unpack[ParseOptions],
    ) -> RawResponse[ParsedChatCompletion[T]]: ...

    @overload
    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: Mapping[str, Any],
        **options: Unpack[ParseOptions],
    ) -> RawResponse[ParsedChatCompletion[Any]]: ...

    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[Any] | Mapping[str, Any],
        **options: Unpack[ParseOptions],
    ) -> RawResponse[ParsedChatCompletion[Any]]:
        owner = self._completions
        return owner._loop.run(
            owner._async.with_raw_response.parse(
                messages=messages, response_format=response_format, **options
            )
        )


class SyncCompletionsWithStreamingResponse:
    """`client.chat.completions.with_streaming_response` of the sync client."""

    def __init__(self, completions: SyncCompletions) -> None:
        self._raw = SyncCompletionsWithRawResponse(completions)

    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: Literal[False] | NotGiven | Omit | None = ...,
        **options: Unpack[CreateOptions],
    ) -> ResponseContextManager[ChatCompletion]: ...

    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: Literal[True],
        **options: Unpack[CreateOptions],
    ) -> ResponseContextManager[SyncChatStream]: ...

    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: bool,
        **options: Unpack[CreateOptions],
    ) -> ResponseContextManager[ChatCompletion | SyncChatStream]: ...

    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: bool | NotGiven | Omit | None = False,
        **options: Unpack[CreateOptions],
    ) -> ResponseContextManager[Any]:
        def opener() -> StreamedResponse[Any]:
            raw = self._raw.create(messages=messages, stream=bool(stream), **options)
            return StreamedResponse(raw.parse(), raw._info, raw.url)

        return ResponseContextManager(opener)

    @overload
    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[T],
        **options: Unpack[ParseOptions],
    ) -> ResponseContextManager[ParsedChatCompletion[T]]: ...

    @overload
    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: Mapping[str, Any],
        **options: Unpack[ParseOptions],
    ) -> ResponseContextManager[ParsedChatCompletion[Any]]: ...

    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[Any] | Mapping[str, Any],
        **options: Unpack[ParseOptions],
    ) -> ResponseContextManager[Any]:
        def opener() -> StreamedResponse[Any]:
            raw = self._raw.parse(messages=messages, response_format=response_format, **options)
            return StreamedResponse(raw.parse(), raw._info, raw.url)

        return ResponseContextManager(opener)


class SyncCompletions:
    """`client.chat.completions` of the sync client: `create`, `parse`, `stream`,
    `with_raw_response`, `with_streaming_response` (see `AsyncVertexChat`'s for details)."""

    def __init__(self, client: VertexChat) -> None:
        self._client = client
        self._loop = client._loop
        self._async: Completions = client._async.chat.completions
        self.with_raw_response = SyncCompletionsWithRawResponse(self)
        self.with_streaming_response = SyncCompletionsWithStreamingResponse(self)

    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: Literal[False] | NotGiven | Omit | None = ...,
        **options: Unpack[CreateOptions],
    ) -> ChatCompletion: ...

    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: Literal[True],
        **options: Unpack[CreateOptions],
    ) -> SyncChatStream: ...

    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: bool,
        **options: Unpack[CreateOptions],
    ) -> ChatCompletion | SyncChatStream: ...

    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: bool | NotGiven | Omit | None = False,
        **options: Unpack[CreateOptions],
    ) -> ChatCompletion | SyncChatStream:
        """`AsyncVertexChat.chat.completions.create`, blocking; a stream is a plain iterator."""
        result = self._loop.run(
            self._async.create(messages=messages, stream=bool(stream), **options)
        )
        if isinstance(result, ChatStream):
            return SyncChatStream(result, self._loop)
        return result

    @overload
    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[T],
        **options: Unpack[ParseOptions],
    ) -> ParsedChatCompletion[T]: ...

    @overload
    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: Mapping[str, Any],
        **options: Unpack[ParseOptions],
    ) -> ParsedChatCompletion[Any]: ...

    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[Any] | Mapping[str, Any],
        **options: Unpack[ParseOptions],
    ) -> ParsedChatCompletion[Any]:
        """`AsyncVertexChat.chat.completions.parse`, blocking."""
        return self._loop.run(
            self._async.parse(messages=messages, response_format=response_format, **options)
        )

    @overload
    def stream(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[T],
        **options: Unpack[ParseOptions],
    ) -> ChatCompletionStreamManager[T]: ...

    @overload
    def stream(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: Mapping[str, Any],
        **options: Unpack[ParseOptions],
    ) -> ChatCompletionStreamManager[Any]: ...

    @overload
    def stream(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: NotGiven | Omit | None = ...,
        **options: Unpack[ParseOptions],
    ) -> ChatCompletionStreamManager[None]: ...

    def stream(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[Any] | Mapping[str, Any] | NotGiven | Omit | None = None,
        **options: Unpack[ParseOptions],
    ) -> ChatCompletionStreamManager[Any]:
        """`AsyncVertexChat.chat.completions.stream`: `with ... as stream: for event in
        stream: ...`, then `stream.get_final_completion()`."""
        manager: AsyncChatCompletionStreamManager[Any] = self._async.stream(
            messages=messages, response_format=response_format, **options
        )
        return ChatCompletionStreamManager(manager, self._loop)


class SyncChat:
    """`client.chat` of the sync client."""

    def __init__(self, client: VertexChat) -> None:
        self.completions = SyncCompletions(client)


class SyncBeta:
    """`client.beta`: `client.beta.chat.completions` is `client.chat.completions`."""

    def __init__(self, chat: SyncChat) -> None:
        self.chat = chat


def _finalize(loop: LoopThread, client: AsyncVertexChat) -> None:
    # A client dropped (or left open at exit) without close(): close it on its loop, briefly.
    if not loop.started:
        loop.stop()
        return
    with contextlib.suppress(BaseException):  # best effort, at garbage collection or exit
        loop.run(client.aclose(), timeout=5.0)
    loop.stop()


class VertexChat:
    """Blocking client for Vertex AI's OpenAI-compatible Chat Completions API, for code written
    against `openai.OpenAI`: the constructor and every argument are `AsyncVertexChat`'s.

    `client.chat.completions.create(...)` returns a `ChatCompletion`, or with `stream=True` a
    `SyncChatStream` to iterate with `for`. Use as `with VertexChat(...) as client:` or call
    `client.close()`. Safe to share between threads; usable from a thread that runs an event
    loop of its own (the call blocks that thread, as any blocking call does). Inside async code,
    prefer `AsyncVertexChat`.
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
        self._async = AsyncVertexChat(
            project, location, endpoint, api_version, base_url, api_key,
            token=token, auth=auth, dedicated_domain=dedicated_domain,
            max_concurrency=max_concurrency, min_concurrency=min_concurrency,
            adaptive_concurrency=adaptive_concurrency, rate_limit=rate_limit, retry=retry,
            max_retries=max_retries, timeout=timeout, max_connections=max_connections,
            default_headers=default_headers, default_query=default_query, proxy=proxy,
            trust_env=trust_env, ssl=ssl, environ=environ, size_limits=size_limits,
            telemetry=telemetry, tracer_provider=tracer_provider, meter_provider=meter_provider,
            trace_propagation=trace_propagation,
        )
        self._loop = LoopThread()
        self._owner: VertexChat = self
        self._closed = False
        self._finalizer = weakref.finalize(self, _finalize, self._loop, self._async)
        self.chat = SyncChat(self)
        self.beta = SyncBeta(self.chat)

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Close every connection and stop the client's loop thread. Idempotent.

        A copy made by `with_options()` shares its original's loop and pool: closing the copy
        closes only what the copy alone holds.
        """
        if self._closed:
            return
        self._closed = True
        if self._owner is not self:
            if self._loop.started and not self._async._owner._closed:
                self._loop.run(self._async.aclose())
            return
        self._finalizer.detach()
        try:
            if self._loop.started:
                self._loop.run(self._async.aclose())
        finally:
            self._loop.stop()

    def __enter__(self) -> VertexChat:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- options ------------------------------------------------------------------------------
    @property
    def api_key(self) -> str | None:
        """As `AsyncVertexChat.api_key`: setting it takes effect from the next request on."""
        return self._async.api_key

    @api_key.setter
    def api_key(self, value: str | None) -> None:
        self._async.api_key = value

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
    ) -> VertexChat:
        """As `AsyncVertexChat.copy()`: a client with some settings changed, sharing this
        one's loop thread, pool, limits and (unless `api_key` is given) credentials."""
        new = object.__new__(type(self))
        new._async = self._async.copy(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries,
            retry=retry, default_headers=default_headers,
            set_default_headers=set_default_headers, default_query=default_query,
            set_default_query=set_default_query,
        )
        new._loop = self._loop
        new._owner = self._owner
        new._closed = False
        new.chat = SyncChat(new)
        new.beta = SyncBeta(new.chat)
        return new

    with_options = copy

    # -- observation --------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self._async.base_url

    @property
    def stats(self) -> ClientStats:
        return self._async.stats

    @property
    def auth_stats(self) -> AuthStats | None:
        return self._async.auth_stats

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._async.retry_policy

    @property
    def max_retries(self) -> int:
        return self._async.max_retries

    @property
    def timeouts(self) -> Timeouts:
        return self._async.timeouts

    @property
    def size_limits(self) -> SizeLimits:
        return self._async.size_limits

    @property
    def timeout(self) -> Timeouts:
        return self._async.timeouts

    @property
    def connections_in_use(self) -> int:
        return self._async.connections_in_use

    def __repr__(self) -> str:
        return repr(self._async).replace("<AsyncVertexChat", "<VertexChat", 1)

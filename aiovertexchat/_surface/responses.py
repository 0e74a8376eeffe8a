"""`with_raw_response` and `with_streaming_response`, shaped as in the OpenAI SDK.

`await client.chat.completions.with_raw_response.create(...)` gives a `RawResponse`: the HTTP
status and headers, and `.parse()` for the `ChatCompletion` (or the `ChatStream` when
`stream=True`). `async with client.chat.completions.with_streaming_response.create(...) as r:`
gives an `AsyncStreamedResponse` whose `await r.parse()` returns the same objects, and closes a
stream left open when the block ends.

Both run the request through `create()` (retries, limits and timeouts as usual), so the
headers are those of the attempt that succeeded. The body is read and decoded as usual: `.text`,
`.content` and `.json()` give the decoded completion re-encoded as JSON, not the server's
bytes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from .._http.stream import ChatStream
from .._protocol.given import NotGiven, Omit
from .._protocol.headers import Headers
from .._protocol.message_params import MessageParam
from .._protocol.structured import ParsedChatCompletion
from ..types import ChatCompletion, ResponseInfo
from .options import CreateOptions, ParseOptions

if TYPE_CHECKING:
    from ..client import Completions

if TYPE_CHECKING:
    import sys

    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

__all__ = [
    "AsyncCompletionsWithRawResponse",
    "AsyncCompletionsWithStreamingResponse",
    "AsyncResponseContextManager",
    "AsyncStreamedResponse",
    "Headers",
    "RawResponse",
    "response_info",
]

R = TypeVar("R")
T = TypeVar("T")


def response_info(result: object) -> ResponseInfo:
    """The HTTP metadata behind what `create()` returned (a completion or a stream)."""
    if isinstance(result, ChatStream):
        return result.response
    info = getattr(result, "__dict__", {}).get("_response")
    if isinstance(info, ResponseInfo):
        return info
    return ResponseInfo(None, {}, 200)


class _Metadata:
    __slots__ = ("_headers", "_info", "url")

    def __init__(self, info: ResponseInfo, url: str) -> None:
        self._info = info
        self._headers: Headers | None = None
        self.url = url

    @property
    def headers(self) -> Headers:
        """The response headers (case-insensitive lookups)."""
        if self._headers is None:
            headers = self._info.headers
            self._headers = headers if isinstance(headers, Headers) else Headers(headers)
        return self._headers

    @property
    def status_code(self) -> int:
        return self._info.status_code

    @property
    def request_id(self) -> str | None:
        return self._info.request_id

    @property
    def method(self) -> str:
        return "POST"


def _encoded(value: object) -> str:
    to_json = getattr(value, "to_json", None)
    if to_json is None:
        raise TypeError(
            "a stream has no body to read as a whole: iterate parse() for its chunks"
        )
    text: str = to_json(indent=None)
    return text


class RawResponse(_Metadata, Generic[R]):
    """The OpenAI SDK's `LegacyAPIResponse`: `.headers`, `.status_code`, `.request_id`, `.url`,
    `.method`, and `.parse()` for the completion (or the stream, for `stream=True`)."""

    __slots__ = ("_parsed",)

    def __init__(self, parsed: R, info: ResponseInfo, url: str) -> None:
        super().__init__(info, url)
        self._parsed = parsed

    def parse(self) -> R:
        """The object `create()` would have returned."""
        return self._parsed

    @property
    def text(self) -> str:
        """The completion as JSON (decoded, then re-encoded); a stream has none."""
        return _encoded(self._parsed)

    @property
    def content(self) -> bytes:
        return self.text.encode()

    def json(self) -> Any:
        import json

        return json.loads(self.text)

    def __repr__(self) -> str:
        return f"<RawResponse [{self.status_code}] {type(self._parsed).__name__}>"


class AsyncStreamedResponse(_Metadata, Generic[R]):
    """The OpenAI SDK's `AsyncAPIResponse` of `with_streaming_response`: `.headers`,
    `.status_code`, `.request_id`, `await .parse()`, `await .read()` / `.text()` / `.json()`
    (non-streamed calls), `await .close()`."""

    __slots__ = ("_parsed",)

    def __init__(self, parsed: R, info: ResponseInfo, url: str) -> None:
        super().__init__(info, url)
        self._parsed = parsed

    async def parse(self) -> R:
        return self._parsed

    async def read(self) -> bytes:
        return _encoded(self._parsed).encode()

    async def text(self) -> str:
        return _encoded(self._parsed)

    async def json(self) -> Any:
        import json

        return json.loads(_encoded(self._parsed))

    async def close(self) -> None:
        """Close the stream, if this is one (a completion holds no connection)."""
        if isinstance(self._parsed, ChatStream):
            await self._parsed.aclose()

    def __repr__(self) -> str:
        return f"<AsyncStreamedResponse [{self.status_code}] {type(self._parsed).__name__}>"


class AsyncResponseContextManager(Generic[R]):
    """`async with ... as response:` sends the request on entry and closes it on exit."""

    def __init__(self, opener: Any) -> None:
        self._opener = opener
        self._response: AsyncStreamedResponse[R] | None = None

    async def __aenter__(self) -> AsyncStreamedResponse[R]:
        self._response = await self._opener()
        return self._response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._response is not None:
            await self._response.close()


class AsyncCompletionsWithRawResponse:
    """`client.chat.completions.with_raw_response`: `create()` and `parse()` returning a
    `RawResponse` around what they return."""

    def __init__(self, completions: Completions) -> None:
        self._completions = completions

    @overload
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: Literal[False] | NotGiven | Omit | None = ...,
        **options: Unpack[CreateOptions],
    ) -> RawResponse[ChatCompletion]: ...

    @overload
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: Literal[True],
        **options: Unpack[CreateOptions],
    ) -> RawResponse[ChatStream]: ...

    @overload
    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: bool,
        **options: Unpack[CreateOptions],
    ) -> RawResponse[ChatCompletion] | RawResponse[ChatStream]: ...

    async def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: bool | NotGiven | Omit | None = False,
        **options: Unpack[CreateOptions],
    ) -> RawResponse[ChatCompletion] | RawResponse[ChatStream]:
        result = await self._completions.create(
            messages=messages, stream=bool(stream), **options
        )
        url = self._completions._client._url
        if isinstance(result, ChatStream):
            return RawResponse(result, result.response, url)
        return RawResponse(result, response_info(result), url)

    @overload
    async def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[T],
        **options: Unpack[ParseOptions],
    ) -> RawResponse[ParsedChatCompletion[T]]: ...

    @overload
    async def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: Mapping[str, Any],
        **options: Unpack[ParseOptions],
    ) -> RawResponse[ParsedChatCompletion[Any]]: ...

    async def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[Any] | Mapping[str, Any],
        **options: Unpack[ParseOptions],
    ) -> RawResponse[ParsedChatCompletion[Any]]:
        result = await self._completions.parse(
            messages=messages, response_format=response_format, **options
        )
        return RawResponse(result, response_info(result), self._completions._client._url)


class AsyncCompletionsWithStreamingResponse:
    """`client.chat.completions.with_streaming_response`: `create()` / `parse()` returning an
    async context manager that yields an `AsyncStreamedResponse`."""

    def __init__(self, completions: Completions) -> None:
        self._completions = completions

    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: Literal[False] | NotGiven | Omit | None = ...,
        **options: Unpack[CreateOptions],
    ) -> AsyncResponseContextManager[ChatCompletion]: ...

    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: Literal[True],
        **options: Unpack[CreateOptions],
    ) -> AsyncResponseContextManager[ChatStream]: ...

    @overload
    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: bool,
        **options: Unpack[CreateOptions],
    ) -> AsyncResponseContextManager[ChatCompletion | ChatStream]: ...

    def create(
        self,
        *,
        messages: Sequence[MessageParam],
        stream: bool | NotGiven | Omit | None = False,
        **options: Unpack[CreateOptions],
    ) -> AsyncResponseContextManager[Any]:
        raw = AsyncCompletionsWithRawResponse(self._completions)

        async def opener() -> AsyncStreamedResponse[Any]:
            response = await raw.create(messages=messages, stream=bool(stream), **options)
            return AsyncStreamedResponse(response.parse(), response._info, response.url)

        return AsyncResponseContextManager(opener)

    @overload
    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[T],
        **options: Unpack[ParseOptions],
    ) -> AsyncResponseContextManager[ParsedChatCompletion[T]]: ...

    @overload
    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: Mapping[str, Any],
        **options: Unpack[ParseOptions],
    ) -> AsyncResponseContextManager[ParsedChatCompletion[Any]]: ...

    def parse(
        self,
        *,
        messages: Sequence[MessageParam],
        response_format: type[Any] | Mapping[str, Any],
        **options: Unpack[ParseOptions],
    ) -> AsyncResponseContextManager[Any]:
        raw = AsyncCompletionsWithRawResponse(self._completions)

        async def opener() -> AsyncStreamedResponse[Any]:
            response = await raw.parse(
                messages=messages, response_format=response_format, **options
            )
            return AsyncStreamedResponse(response.parse(), response._info, response.url)

        return AsyncResponseContextManager(opener)

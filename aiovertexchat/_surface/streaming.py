"""`client.chat.completions.stream(...)`: the OpenAI SDK's typed-event stream helper.

```python
async with client.chat.completions.stream(model=..., messages=...) as stream:
    async for event in stream:
        if event.type == "content.delta":
            print(event.delta, end="")
    completion = await stream.get_final_completion()
```

The request is a `create(stream=True)` sent on entering the block; the events come from
`EventBuilder` (sans-IO), per chunk, in the OpenAI SDK's order.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Generic, TypeVar

from .._http.stream import ChatStream
from .._protocol.stream_events import ChatCompletionStreamEvent, EventBuilder, final_completion
from .._protocol.structured import ParsedChatCompletion, ResponseFormat
from ..types import ChatCompletion, ResponseInfo

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - exercised on 3.10 only
    from typing_extensions import Self

__all__ = ["AsyncChatCompletionStream", "AsyncChatCompletionStreamManager"]

T = TypeVar("T")


class AsyncChatCompletionStream(Generic[T]):
    """Typed events of one streamed completion (`async for event in stream`), then
    `await get_final_completion()`. `.stream` is the underlying `ChatStream` (metrics, usage)."""

    def __init__(
        self,
        stream: ChatStream,
        *,
        fmt: ResponseFormat | None,
        tools: Iterable[Mapping[str, Any]] | None,
    ) -> None:
        self.stream = stream
        self._fmt = fmt
        self._builder: EventBuilder[T] = EventBuilder(
            lambda: stream.completion, fmt=fmt, tools=tools
        )
        self._events = self._iterate()

    async def _iterate(self) -> AsyncGenerator[ChatCompletionStreamEvent[T], None]:
        events = self._builder.events
        async for chunk in self.stream:
            for event in events(chunk):
                yield event

    def __aiter__(self) -> AsyncIterator[ChatCompletionStreamEvent[T]]:
        return self._events

    async def __anext__(self) -> ChatCompletionStreamEvent[T]:
        return await self._events.__anext__()

    async def until_done(self) -> Self:
        """Read the rest of the stream (its events are dropped)."""
        async for _ in self._events:
            pass
        return self

    async def get_final_completion(self) -> ParsedChatCompletion[T]:
        """The whole completion once the stream has ended (reading what is left), with
        `choices[i].message.parsed` when a `response_format` was given."""
        await self.until_done()
        return final_completion(self.stream.completion, self._fmt)

    @property
    def current_completion_snapshot(self) -> ChatCompletion:
        """The completion accumulated so far."""
        return self.stream.completion

    @property
    def response(self) -> ResponseInfo:
        return self.stream.response

    async def close(self) -> None:
        """Stop reading and release the connection."""
        await self._events.aclose()
        await self.stream.aclose()

    aclose = close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncChatCompletionStreamManager(Generic[T]):
    """What `stream()` returns: `async with` sends the request and yields the
    `AsyncChatCompletionStream`, and closes it when the block ends."""

    def __init__(
        self,
        opener: Callable[[], Awaitable[ChatStream]],
        *,
        fmt: ResponseFormat | None,
        tools: Iterable[Mapping[str, Any]] | None,
    ) -> None:
        self._opener = opener
        self._fmt = fmt
        self._tools = tools
        self._stream: AsyncChatCompletionStream[T] | None = None

    async def __aenter__(self) -> AsyncChatCompletionStream[T]:
        raw = await self._opener()
        self._stream = AsyncChatCompletionStream(raw, fmt=self._fmt, tools=self._tools)
        return self._stream

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            await self._stream.close()

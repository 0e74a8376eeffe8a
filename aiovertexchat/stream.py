"""`ChatStream`: the async iterator over a streamed chat completion.

Per network read: the SSE decoder splits events; per event: msgspec decodes the chunk straight
into a Struct, the accumulator appends its text, and the arrival time is recorded. Nothing else
runs per chunk.

The connection is released exactly once, however iteration ends: at the end of the body, on an
error, on `aclose()` / `async with`, on task cancellation, or when an abandoned stream is
garbage-collected after a `break`.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

import msgspec

from .accumulate import ChunkAccumulator
from .errors import (
    APIError,
    APIStatusError,
    StreamInterruptedError,
    make_status_error,
    parse_error_body,
)
from .sse import SSEDecoder
from .types import ChatCompletion, ChatCompletionChunk, Usage

if TYPE_CHECKING:
    from .transport import Response

__all__ = ["ChatStream", "StreamMetrics"]

_chunk_decoder = msgspec.json.Decoder(ChatCompletionChunk)
_DONE = "[DONE]"


@dataclass
class StreamMetrics:
    """Timestamps of one streamed request, from `time.perf_counter()` (seconds).

    `started_at` is when the request was about to be sent (after any wait for a concurrency slot
    or rate-limit token); the `time_to_*` properties are relative to it.
    """

    started_at: float
    headers_at: float | None = None
    first_chunk_at: float | None = None
    first_content_at: float | None = None
    first_reasoning_at: float | None = None
    end_at: float | None = None
    chunk_times: list[float] = field(default_factory=list)

    @staticmethod
    def _since(start: float, at: float | None) -> float | None:
        return None if at is None else at - start

    @property
    def time_to_headers(self) -> float | None:
        return self._since(self.started_at, self.headers_at)

    @property
    def time_to_first_chunk(self) -> float | None:
        return self._since(self.started_at, self.first_chunk_at)

    @property
    def time_to_first_token(self) -> float | None:
        """TTFT: until the first chunk with non-empty content."""
        return self._since(self.started_at, self.first_content_at)

    @property
    def time_to_first_reasoning(self) -> float | None:
        return self._since(self.started_at, self.first_reasoning_at)

    @property
    def duration(self) -> float | None:
        return self._since(self.started_at, self.end_at)

    @property
    def inter_chunk_latencies(self) -> list[float]:
        times = self.chunk_times
        return [later - earlier for earlier, later in itertools.pairwise(times)]


def _hooked(
    hook: Callable[[ChatCompletionChunk], None], add: Callable[[ChatCompletionChunk], None]
) -> Callable[[ChatCompletionChunk], None]:
    def hook_then_add(chunk: ChatCompletionChunk) -> None:
        hook(chunk)
        add(chunk)

    return hook_then_add


class ChatStream:
    """Chunks of a streamed completion; also an async context manager that closes it."""

    def __init__(
        self,
        response: Response,
        *,
        metrics: StreamMetrics,
        request_id: str | None,
        on_close: Callable[[], None] | None = None,
        max_event_size: int = 64 * 1024 * 1024,
    ) -> None:
        self._response = response
        self._decoder = SSEDecoder(max_event_size=max_event_size)
        self._accumulator = ChunkAccumulator()
        self._on_close = on_close
        self._closed = False
        self._finished = False
        self._chunks = self._iterate()
        # Set before iteration starts (e.g. thought separation): rewrites each chunk in place
        # before it is accumulated and yielded. None keeps the per-chunk path as it is.
        self._chunk_hook: Callable[[ChatCompletionChunk], None] | None = None
        self.metrics = metrics
        self.request_id = request_id
        self.response_headers: dict[str, str] = dict(response.headers)

    # -- results ------------------------------------------------------------------------------
    @property
    def completion(self) -> ChatCompletion:
        """Everything received so far, as one completion (complete once the stream has ended)."""
        return self._accumulator.result()

    @property
    def usage(self) -> Usage | None:
        return self._accumulator.usage

    @property
    def finished(self) -> bool:
        """True when the stream ended cleanly ([DONE] or every choice finished)."""
        return self._finished

    # -- iteration ----------------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self._chunks

    async def __anext__(self) -> ChatCompletionChunk:
        return await self._chunks.__anext__()

    async def _iterate(self) -> AsyncGenerator[ChatCompletionChunk, None]:
        # Locals: attribute look-ups cost per chunk.
        read = self._response.read_chunk
        feed = self._decoder.feed
        accumulate: Callable[[ChatCompletionChunk], None] = self._accumulator.add
        if self._chunk_hook is not None:
            accumulate = _hooked(self._chunk_hook, accumulate)
        metrics = self.metrics
        chunk_times = metrics.chunk_times
        clock = time.perf_counter
        decode = _chunk_decoder.decode
        try:
            while True:
                try:
                    data = await read()
                except APIError as exc:
                    why = f"the connection failed mid-stream: {exc}"
                    raise self._interrupted(why, exc) from exc
                if not data:
                    break
                events = feed(data)
                if not events:
                    continue
                now = clock()
                for event in events:
                    payload = event.data
                    if payload == _DONE:
                        self._finished = True
                        return
                    if event.event != "message":
                        if event.event == "error":
                            raise self._error_event(payload)
                        continue  # named events other than errors carry no chunks
                    try:
                        chunk = decode(payload)
                    except msgspec.DecodeError as exc:
                        raise self._undecodable(payload, exc) from exc
                    if chunk.error is not None:
                        raise self._error_event(payload)
                    if metrics.first_chunk_at is None:
                        metrics.first_chunk_at = now
                    chunk_times.append(now)
                    accumulate(chunk)
                    if metrics.first_content_at is None or metrics.first_reasoning_at is None:
                        self._note_firsts(chunk, now)
                    yield chunk
            self._decoder.end()
            if not self._accumulator.finished:
                raise self._interrupted("the stream ended before a finish reason", None)
            self._finished = True
        finally:
            self._close(clean=self._finished)

    def _note_firsts(self, chunk: ChatCompletionChunk, now: float) -> None:
        metrics = self.metrics
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content and metrics.first_content_at is None:
                metrics.first_content_at = now
            if delta.reasoning and metrics.first_reasoning_at is None:
                metrics.first_reasoning_at = now

    # -- failures -----------------------------------------------------------------------------
    def _interrupted(self, why: str, cause: BaseException | None) -> StreamInterruptedError:
        received = len(self.metrics.chunk_times)
        error = StreamInterruptedError(
            f"{why} (after {received} chunks; what arrived is in .partial)",
            partial=self.completion,
            chunks_received=received,
            cause=cause,
        )
        return error

    def _error_event(self, payload: str) -> APIStatusError:
        raw = payload.encode()
        parsed = parse_error_body(raw)
        status = parsed.code if parsed.code and parsed.code >= 400 else 500
        error = make_status_error(
            status, raw, headers=self.response_headers, what="the stream"
        )
        error.partial = self.completion
        return error

    def _undecodable(self, payload: str, exc: Exception) -> APIError:
        parsed = parse_error_body(payload.encode())
        if parsed.code is not None or parsed.google_status is not None:
            return self._error_event(payload)  # e.g. the list form `[{"error": {...}}]`
        excerpt = payload[:120]
        return self._interrupted(f"a chunk was not valid JSON ({exc}): {excerpt!r}", exc)

    # -- closing ------------------------------------------------------------------------------
    def _close(self, *, clean: bool) -> None:
        if self._closed:
            return
        self._closed = True
        self.metrics.end_at = time.perf_counter()
        if clean:
            self._response.release()
        else:
            self._response.close()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()

    async def aclose(self) -> None:
        """Stop reading and release the connection. Safe to call more than once."""
        await self._chunks.aclose()
        self._close(clean=False)

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # A caller that `break`s out and drops the stream still gets its connection back.
        if not self._closed:
            self._closed = True
            self._response.close()
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()

    def __repr__(self) -> str:
        state = "finished" if self._finished else ("closed" if self._closed else "open")
        chunks = len(self.metrics.chunk_times)
        return f"<ChatStream {state} chunks={chunks} request_id={self.request_id!r}>"

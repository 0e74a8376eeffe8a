"""`ChatStream`: the async iterator over a streamed chat completion.

Per network read: the SSE decoder splits events; per event: msgspec decodes the chunk straight
into a Struct, the accumulator appends its text, and the arrival time is recorded. Nothing else
runs per chunk.

The connection is released exactly once, however iteration ends: at the end of the body, on an
error, on `aclose()` / `async with`, on task cancellation, or when an abandoned stream is
garbage-collected after a `break`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

import msgspec

from .._protocol.accumulate import ChunkAccumulator
from .._protocol.decode import CHUNK_DECODER, describe_decode_failure, unreadable_response
from .._protocol.error_body import make_status_error, parse_error_body, request_id_from_headers
from .._protocol.sse import SSEDecoder
from ..errors import (
    APIError,
    APIStatusError,
    APITimeoutError,
    ResponseTooLargeError,
    SSEBufferOverflowError,
    StreamInterruptedError,
    StreamTimeoutError,
)
from ..types import ChatCompletion, ChatCompletionChunk, Usage

if TYPE_CHECKING:
    from .transport import Response

__all__ = ["ChatStream", "StreamMetrics"]

# Given the failure and the number of chunks of the failed attempt already handed to the
# caller, returns a fresh response to read from, or raises (the failure, with its history).
# The attempt loop (`attempts.py`) provides it: the decision to restart is taken there.
Restart = Callable[[APIError, int], Awaitable["Response"]]
ChunkHook = Callable[[ChatCompletionChunk], None]
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


def _check_idle(ref: weakref.ref[ChatStream]) -> None:
    # The timer holds the stream weakly: a stream dropped after `break` must stay collectable.
    stream = ref()
    if stream is not None:
        stream._check_idle()


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
        on_close: Callable[[Usage | None], None] | None = None,
        restart: Restart | None = None,
        new_chunk_hook: Callable[[], ChunkHook | None] | None = None,
        idle_timeout: float | None = None,
        max_event_size: int = 64 * 1024 * 1024,
        on_end: Callable[[ChatStream, BaseException | None], None] | None = None,
    ) -> None:
        self._response = response
        self._max_event_size = max_event_size
        self._decoder = SSEDecoder(max_event_size=max_event_size)
        self._accumulator = ChunkAccumulator()
        self._on_close = on_close
        # Telemetry's end of the call (None when it is off): the stream and what ended it.
        self._on_end = on_end
        self._end_error: BaseException | None = None
        self._restart = restart
        self._closed = False
        self._finished = False
        self._chunks = self._iterate()
        # Rewrites each chunk in place before it is accumulated and yielded (e.g. thought
        # separation); None keeps the per-chunk path as it is. `new_chunk_hook` makes a fresh
        # one per attempt: a restarted attempt begins again from nothing.
        self._new_hook = new_chunk_hook
        self._chunk_hook = new_chunk_hook() if new_chunk_hook is not None else None
        self.metrics = metrics
        self.request_id = request_id
        self.response_headers: dict[str, str] = dict(response.headers)
        self.restarts = 0
        """Times the request was re-issued after the stream broke (see RetryPolicy)."""
        # Idle watchdog: one timer per `idle` period (not per read). `_wait_began` is when the
        # pending read began, None while the caller holds the chunk (its time is not idle).
        self._idle = idle_timeout
        self._wait_began: float | None = None
        self._idle_timer: asyncio.TimerHandle | None = None

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
        try:
            self._arm_idle_timer()
            while True:  # one pass per attempt; a restart begins the next
                # Locals: attribute look-ups cost per chunk.
                read = self._response.read_chunk
                feed = self._decoder.feed
                accumulate: Callable[[ChatCompletionChunk], None] = self._accumulator.add
                if self._chunk_hook is not None:
                    accumulate = _hooked(self._chunk_hook, accumulate)
                metrics = self.metrics
                chunk_times = metrics.chunk_times
                clock = time.perf_counter
                decode = CHUNK_DECODER.decode
                watch = self._idle is not None
                try:
                    while True:
                        if watch:
                            self._wait_began = clock()
                        try:
                            data = await read()
                        except APIError as exc:
                            raise self._interrupted(
                                f"the connection failed mid-stream: {exc}", exc
                            ) from exc
                        if watch:
                            self._wait_began = None
                        if not data:
                            break
                        try:
                            events = feed(data)
                        except SSEBufferOverflowError as exc:
                            raise self._too_large(exc) from exc
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
                            if (
                                metrics.first_content_at is None
                                or metrics.first_reasoning_at is None
                            ):
                                self._note_firsts(chunk, now)
                            yield chunk
                    self._decoder.end()
                    if self._accumulator.finished:
                        self._finished = True
                        return
                    raise self._interrupted("the stream ended before a finish reason", None)
                except APIError as exc:
                    failure = exc
                await self._recover(failure)
        except BaseException as exc:  # kept for `on_end`: a failure, a cancellation, a close
            self._end_error = exc
            raise
        finally:
            self._close(clean=self._finished)

    async def _recover(self, error: APIError) -> None:
        """Re-issue the request if the retry policy allows it, else raise `error`."""
        restart = self._restart
        if restart is None:
            raise error
        self._wait_began = None
        self._response.close()
        response = await restart(error, len(self.metrics.chunk_times))
        self.restarts += 1
        self._response = response
        self._decoder = SSEDecoder(max_event_size=self._max_event_size)
        self._accumulator = ChunkAccumulator()
        if self._new_hook is not None:
            self._chunk_hook = self._new_hook()
        self.response_headers = dict(response.headers)
        self.request_id = request_id_from_headers(response.headers)
        metrics = self.metrics
        metrics.headers_at = time.perf_counter()
        metrics.first_chunk_at = metrics.first_content_at = metrics.first_reasoning_at = None
        metrics.chunk_times.clear()
        if self._idle_timer is None:
            self._arm_idle_timer()

    # -- idle watchdog ------------------------------------------------------------------------
    def _arm_idle_timer(self) -> None:
        idle = self._idle
        if idle is None or self._closed:
            return
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(idle, _check_idle, weakref.ref(self))

    def _check_idle(self) -> None:
        self._idle_timer = None
        idle = self._idle
        if idle is None or self._closed:
            return
        began = self._wait_began
        now = time.perf_counter()
        if began is not None and now - began >= idle:
            error = APITimeoutError(
                f"no stream chunk for {idle:g} s (idle timeout)", kind="idle"
            )
            self._response.fail(error)
            return
        delay = idle if began is None else began + idle - now
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(delay, _check_idle, weakref.ref(self))

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
        message = f"{why} (after {received} chunks; what arrived is in .partial)"
        if isinstance(cause, APITimeoutError):
            return StreamTimeoutError(
                message, partial=self.completion, chunks_received=received, cause=cause
            )
        return StreamInterruptedError(
            message, partial=self.completion, chunks_received=received, cause=cause
        )

    def _error_event(self, payload: str) -> APIStatusError:
        raw = payload.encode()
        parsed = parse_error_body(raw)
        status = parsed.code if parsed.code and parsed.code >= 400 else 500
        error = make_status_error(
            status, raw, headers=self.response_headers, what="the stream"
        )
        error.partial = self.completion
        return error

    def _undecodable(self, payload: str, exc: msgspec.DecodeError) -> APIError:
        parsed = parse_error_body(payload.encode())
        if parsed.code is not None or parsed.google_status is not None:
            return self._error_event(payload)  # e.g. the list form `[{"error": {...}}]`
        unreadable = unreadable_response(
            payload, exc, what="a chat.completion.chunk", status=self._response.status,
            headers=self.response_headers, request_id=self.request_id,
        )
        received = len(self.metrics.chunk_times)
        why, _ = describe_decode_failure(exc)
        # Still a StreamInterruptedError (it carries .partial); its cause marks it final.
        return StreamInterruptedError(
            f"a chunk was {why}: {payload[:120]!r} (after {received} chunks; what arrived is "
            "in .partial; not retried: the server already did the work)",
            partial=self.completion,
            chunks_received=received,
            cause=unreadable,
        )

    def _too_large(self, exc: SSEBufferOverflowError) -> ResponseTooLargeError:
        received = len(self.metrics.chunk_times)
        return ResponseTooLargeError(
            f"one stream event grew past {exc.limit} bytes (max_event_size) after {received} "
            "chunks; what arrived is in .partial",
            limit_name="max_event_size",
            limit=exc.limit,
            partial=self.completion,
        )

    # -- closing ------------------------------------------------------------------------------
    def _close(self, *, clean: bool) -> None:
        if self._closed:
            return
        self._closed = True
        self.metrics.end_at = time.perf_counter()
        timer, self._idle_timer = self._idle_timer, None
        if timer is not None:
            timer.cancel()
        if clean:
            self._response.release()
        else:
            self._response.close()
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close(self._accumulator.usage)
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            error, self._end_error = self._end_error, None  # no cycle through the traceback
            on_end(self, error)

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
        self._close(clean=False)

    def __repr__(self) -> str:
        state = "finished" if self._finished else ("closed" if self._closed else "open")
        chunks = len(self.metrics.chunk_times)
        return f"<ChatStream {state} chunks={chunks} request_id={self.request_id!r}>"

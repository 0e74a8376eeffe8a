"""`ChatStream`: the async iterator over a streamed chat completion.

Per network read: the SSE decoder splits events; per event: msgspec decodes the chunk straight
into a Struct, the accumulator appends its text, and the arrival time is recorded. Nothing else
runs per chunk.

The connection is released exactly once, however iteration ends: at the end of the body, on an
error, on `aclose()` / `async with`, on task cancellation, or as soon as an abandoned stream
(dropped after a `break`) loses its last reference.

How an abandoned stream is freed without the garbage collector: the reading state lives in
`_StreamCore`, and the async generator that reads holds only the core. The `ChatStream` the
caller holds owns both, and nothing refers back to it, so it is freed by reference counting
the moment the caller drops it; its `__del__` then closes the core: the connection is closed
and the concurrency slot given back at once. The orphaned generator is finalized by asyncio's
async-generator hook on the next loop iteration, and its `finally` finds the core closed.

Limits per stream, checked per network read (an addition and a comparison, nothing per chunk):
`SizeLimits.stream` on the decoded bytes of the attempt, `SizeLimits.event` in the SSE decoder,
the total deadline by one timer armed when the stream opens.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING

import msgspec

from .._protocol.accumulate import ChunkAccumulator
from .._protocol.decode import (
    CHUNK_DECODER,
    DECODE_FAILURES,
    as_decode_error,
    decode_tolerantly,
    describe_decode_failure,
    error_in_body,
    unreadable_response,
)
from .._protocol.error_body import parse_error_body, request_id_from_headers
from .._protocol.headers import Headers
from .._protocol.sse import SSEDecoder
from .._redact import redact, scrub_chain
from .._reliability.sizes import SizeLimits, describe_size
from ..errors import (
    APIError,
    APIStatusError,
    APITimeoutError,
    ResponseTooLargeError,
    SSEBufferOverflowError,
    StreamInterruptedError,
    StreamTimeoutError,
)
from ..types import ChatCompletion, ChatCompletionChunk, ResponseInfo, Usage

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


def _check_idle(ref: weakref.ref[_StreamCore]) -> None:
    # The timer holds the stream weakly: a stream dropped after `break` must stay collectable.
    stream = ref()
    if stream is not None:
        stream._check_idle()


def _check_deadline(ref: weakref.ref[_StreamCore]) -> None:
    stream = ref()
    if stream is not None:
        stream._expire()


def _hooked(
    hook: Callable[[ChatCompletionChunk], None], add: Callable[[ChatCompletionChunk], None]
) -> Callable[[ChatCompletionChunk], None]:
    def hook_then_add(chunk: ChatCompletionChunk) -> None:
        hook(chunk)
        add(chunk)

    return hook_then_add


class _StreamCore:
    """The reading side of a `ChatStream`: response, decoder, accumulator, timers, closing.

    Its async generator `_iterate` refers to this core only, never to the `ChatStream`.
    """

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
        limits: SizeLimits | None = None,
        deadline: float = math.inf,
        total_timeout: float | None = None,
        on_end: Callable[[_StreamCore, BaseException | None], None] | None = None,
    ) -> None:
        limits = limits if limits is not None else SizeLimits()
        self._response = response
        self._max_event_size = limits.event
        self._max_stream = limits.stream
        self._decoder = SSEDecoder(max_event_size=limits.event)
        self._accumulator = ChunkAccumulator()
        self._on_close = on_close
        # Telemetry's end of the call (None when it is off): the stream and what ended it.
        self._on_end = on_end
        self._end_error: BaseException | None = None
        self._restart = restart
        self._closed = False
        self._finished = False
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
        # The call's total deadline (event-loop clock): one timer for the stream's whole life.
        self._total = total_timeout
        self._deadline_timer: asyncio.TimerHandle | None = None
        if deadline != math.inf:
            self._deadline_timer = asyncio.get_running_loop().call_at(
                deadline, _check_deadline, weakref.ref(self)
            )

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

    @property
    def response(self) -> ResponseInfo:
        """The HTTP response being read (the latest attempt's): `.status_code`, `.headers`,
        `.request_id` (the OpenAI SDK's `stream.response`)."""
        return ResponseInfo(
            self.request_id, Headers(self.response_headers), self._response.status
        )

    # -- iteration ----------------------------------------------------------------------------
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
                received = 0
                max_stream = self._max_stream
                full = False
                try:
                    while True:
                        if full:  # the last read reached the limit: what fitted was shown
                            raise self._stream_too_large(received)
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
                        received += len(data)
                        if received > max_stream:
                            data = data[: len(data) - (received - max_stream)]
                            full = True
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
                            except DECODE_FAILURES:
                                # Another server's shape: the one tolerant fallback, or the
                                # final "unreadable" error.
                                chunk = self._decode_tolerantly(payload)
                            if chunk.error:
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
                        # Hold nothing of these events while the next read waits: a large
                        # event's text would otherwise stay in memory twice per stream.
                        del events, event, payload
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
        if restart is None or self._closed:
            raise scrub_chain(error)
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

    # -- total deadline -----------------------------------------------------------------------
    def _expire(self) -> None:
        self._deadline_timer = None
        if self._closed:
            return
        # The pending (or the next) read raises it; a restart under way is cut by its own scope.
        self._response.fail(
            APITimeoutError(
                f"the total deadline ({self._total:g} s from create()) ran out reading the "
                "stream",
                kind="total",
                stage="stream",
            )
        )

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
        # The status is the one the error names (500 when none): the HTTP status was 200.
        error = error_in_body(payload, headers=self.response_headers, streamed=True)
        error.partial = self.completion
        return error

    def _decode_tolerantly(self, payload: str) -> ChatCompletionChunk:
        try:
            return decode_tolerantly(payload, ChatCompletionChunk)
        except DECODE_FAILURES as exc:
            raise self._undecodable(payload, as_decode_error(exc)) from exc

    def _undecodable(self, payload: str, exc: msgspec.DecodeError) -> APIError:
        parsed = parse_error_body(payload.encode())
        if parsed.code is not None or parsed.google_status is not None or parsed.status:
            return self._error_event(payload)  # e.g. the list form `[{"error": {...}}]`
        unreadable = unreadable_response(
            payload, exc, what="a chat.completion.chunk", status=self._response.status,
            headers=self.response_headers, request_id=self.request_id,
        )
        received = len(self.metrics.chunk_times)
        why, _ = describe_decode_failure(exc)
        # Still a StreamInterruptedError (it carries .partial); its cause marks it final.
        return StreamInterruptedError(
            f"a chunk was {why}: {redact(payload)[:120]!r} (after {received} chunks; what "
            "arrived is in .partial; not retried: the server already did the work)",
            partial=self.completion,
            chunks_received=received,
            cause=unreadable,
        )

    def _too_large(self, exc: SSEBufferOverflowError) -> ResponseTooLargeError:
        received = len(self.metrics.chunk_times)
        return ResponseTooLargeError(
            f"one stream event grew past SizeLimits(event={describe_size(exc.limit)}) after "
            f"{received} chunks; what arrived is in .partial (not retried; raise the limit "
            "with AsyncVertexChat(size_limits=SizeLimits(event=...)) if such events are "
            "expected)",
            limit_name="event",
            limit=exc.limit,
            partial=self.completion,
        )

    def _stream_too_large(self, size: int) -> ResponseTooLargeError:
        limit = self._max_stream
        received = len(self.metrics.chunk_times)
        return ResponseTooLargeError(
            f"the stream grew past SizeLimits(stream={describe_size(limit)}) ({size:,} decoded "
            f"bytes) after {received} chunks; what arrived is in .partial (not retried; raise "
            "the limit with AsyncVertexChat(size_limits=SizeLimits(stream=...)) if such "
            "answers are expected)",
            limit_name="stream",
            limit=limit,
            partial=self.completion,
        )

    # -- closing ------------------------------------------------------------------------------
    def _close(self, *, clean: bool) -> None:
        if self._closed:
            return
        self._closed = True
        self.metrics.end_at = time.perf_counter()
        for timer in (self._idle_timer, self._deadline_timer):
            if timer is not None:
                timer.cancel()
        self._idle_timer = self._deadline_timer = None
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


class ChatStream:
    """Chunks of a streamed completion; also an async context manager that closes it.

    `async for chunk in stream` yields `ChatCompletionChunk`s; `stream.completion` is what
    arrived so far as one `ChatCompletion`. The connection and the concurrency slot are given
    back when the stream ends, fails, is closed (`aclose()`, `async with`), its task is
    cancelled, or it is dropped (e.g. after a `break`): the last reference going is enough, no
    garbage collection is needed.
    """

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
        limits: SizeLimits | None = None,
        deadline: float = math.inf,
        total_timeout: float | None = None,
        on_end: Callable[[_StreamCore, BaseException | None], None] | None = None,
    ) -> None:
        core = _StreamCore(
            response,
            metrics=metrics,
            request_id=request_id,
            on_close=on_close,
            restart=restart,
            new_chunk_hook=new_chunk_hook,
            idle_timeout=idle_timeout,
            limits=limits,
            deadline=deadline,
            total_timeout=total_timeout,
            on_end=on_end,
        )
        self._core = core
        self._chunks = core._iterate()
        self.metrics = metrics

    # -- results ------------------------------------------------------------------------------
    @property
    def completion(self) -> ChatCompletion:
        """Everything received so far, as one completion (complete once the stream has ended)."""
        return self._core.completion

    @property
    def usage(self) -> Usage | None:
        return self._core.usage

    @property
    def finished(self) -> bool:
        """True when the stream ended cleanly ([DONE] or every choice finished)."""
        return self._core.finished

    @property
    def request_id(self) -> str | None:
        """The request id of the current attempt's response."""
        return self._core.request_id

    @property
    def response_headers(self) -> dict[str, str]:
        """The headers of the current attempt's response."""
        return self._core.response_headers

    @property
    def restarts(self) -> int:
        """Times the request was re-issued after the stream broke (see RetryPolicy)."""
        return self._core.restarts

    @property
    def response(self) -> ResponseInfo:
        """The HTTP response being read (the latest attempt's): `.status_code`, `.headers`,
        `.request_id` (the OpenAI SDK's `stream.response`)."""
        return self._core.response

    # -- iteration ----------------------------------------------------------------------------
    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self._chunks

    async def __anext__(self) -> ChatCompletionChunk:
        return await self._chunks.__anext__()

    # -- closing ------------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Stop reading and release the connection. Safe to call more than once."""
        await self._chunks.aclose()
        self._core._close(clean=False)

    async def close(self) -> None:
        """The same as `aclose()` (the OpenAI SDK's `await stream.close()`)."""
        await self.aclose()

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
        # Dropped without being closed (a `break`): give the connection and the slot back now.
        core = self.__dict__.get("_core")
        if core is not None:
            core._close(clean=False)

    def __repr__(self) -> str:
        core = self._core
        state = "finished" if core.finished else ("closed" if core._closed else "open")
        chunks = len(self.metrics.chunk_times)
        return f"<ChatStream {state} chunks={chunks} request_id={core.request_id!r}>"

"""`ChatStream`: chunks, accumulation and metrics; giving the connection and the concurrency slot
back however iteration ends (end of body, error, break, aclose, cancellation); failures mid-stream
keeping what arrived in `.partial`; a restart continuing on a fresh response.

First directly, on a response whose body the test feeds (no sockets); then through the client
against the emulator.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import msgspec
import pytest

from aiovertexchat import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AsyncVertexChat,
    InternalServerError,
    StreamInterruptedError,
)
from aiovertexchat._http.stream import ChatStream, StreamMetrics
from aiovertexchat.emulator import Emulator
from aiovertexchat.errors import StreamTimeoutError
from aiovertexchat.types import Usage
from tests.helpers import HELLO, MODEL, assert_nothing_held, cancel, fault, settle, until


# -- directly, on a fed response ----------------------------------------------------------------
class FedResponse:
    """Stands in for the transport's `Response`: `read_chunk` returns what the test fed, in
    order, and waits when nothing is left; `b""` is the end of the body. Counts how the stream
    gives the connection back (`release`: reusable, `close`: dropped)."""

    def __init__(self, pieces: Iterable[bytes] = (), headers: Mapping[str, str] | None = None):
        self.headers: Mapping[str, str] = headers or {"x-request-id": "req-1"}
        self.status = 200
        self._queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        for piece in pieces:
            self.feed(piece)
        self.released = 0
        self.closed = 0

    def feed(self, piece: bytes | BaseException) -> None:
        self._queue.put_nowait(piece)

    async def read_chunk(self) -> bytes:
        piece = await self._queue.get()
        if isinstance(piece, BaseException):
            raise piece
        return piece

    def fail(self, error: BaseException) -> None:
        self.feed(error)

    def release(self) -> None:
        self.released += 1

    def close(self) -> None:
        self.closed += 1


def sse(text: str | None = None, finish: str | None = None, **extra: Any) -> bytes:
    """One SSE event carrying a chunk with one choice (or none, with `usage=`)."""
    chunk: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "created": 1,
                             "model": "m", "choices": [], **extra}
    if text is not None or finish is not None:
        delta = {} if text is None else {"content": text}
        chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    return b"data: " + msgspec.json.encode(chunk) + b"\n\n"


DONE = b"data: [DONE]\n\n"
Restart = Callable[[APIError, int], Awaitable[Any]]


def fed_stream(
    response: FedResponse,
    *,
    on_close: Callable[[Usage | None], None] | None = None,
    restart: Restart | None = None,
    idle_timeout: float | None = None,
) -> ChatStream:
    return ChatStream(
        response,  # type: ignore[arg-type]
        metrics=StreamMetrics(started_at=time.perf_counter()),
        request_id="req-1",
        on_close=on_close,
        restart=restart,
        idle_timeout=idle_timeout,
    )


async def test_events_split_anywhere_become_chunks_and_the_connection_is_reused() -> None:
    usage = {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    body = sse("one ") + sse("two ") + sse("three", finish="stop") + sse(usage=usage) + DONE
    # Cut the body into 7-byte reads: events and even JSON split across reads.
    response = FedResponse(body[i : i + 7] for i in range(0, len(body), 7))
    closed_with: list[Usage | None] = []
    stream = fed_stream(response, on_close=closed_with.append)
    texts = [c.choices[0].delta.content for c in [chunk async for chunk in stream] if c.choices]
    assert texts == ["one ", "two ", "three"]
    assert stream.finished
    assert stream.completion.choices[0].message.content == "one two three"
    assert stream.completion.choices[0].finish_reason == "stop"
    assert stream.usage is not None and stream.usage.total_tokens == 5
    assert (response.released, response.closed) == (1, 0)
    assert [u.total_tokens if u else None for u in closed_with] == [5]
    assert len(stream.metrics.chunk_times) == 4
    assert stream.request_id == "req-1" and "finished" in repr(stream)


async def test_every_choice_finished_ends_cleanly_without_done() -> None:
    response = FedResponse([sse("all", finish="length"), b""])
    stream = fed_stream(response)
    assert [c.choices[0].finish_reason async for c in stream] == ["length"]
    assert stream.finished
    assert (response.released, response.closed) == (1, 0)


async def test_a_body_ending_before_a_finish_reason_keeps_the_partial_and_drops_the_connection(
) -> None:
    response = FedResponse([sse("half "), sse("way"), b""])
    stream = fed_stream(response)
    received = []
    with pytest.raises(StreamInterruptedError, match="ended before a finish reason") as info:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    assert received == ["half ", "way"]
    assert info.value.chunks_received == 2 and info.value.cause is None
    assert info.value.partial.choices[0].message.content == "half way"
    assert not stream.finished
    assert (response.released, response.closed) == (0, 1)


async def test_a_broken_read_is_an_interruption_caused_by_it() -> None:
    broken = APIConnectionError("stream broke: ClientPayloadError: reset")
    response = FedResponse([sse("a"), broken])
    stream = fed_stream(response)
    with pytest.raises(StreamInterruptedError) as info:
        async for _ in stream:
            pass
    assert info.value.cause is broken and info.value.chunks_received == 1
    assert not isinstance(info.value, StreamTimeoutError)
    assert response.closed == 1


async def test_an_error_event_is_a_typed_status_error_with_the_partial() -> None:
    error = {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}}
    event = b"event: error\ndata: " + msgspec.json.encode(error) + b"\n\n"
    response = FedResponse([sse("so far"), event])
    stream = fed_stream(response)
    with pytest.raises(InternalServerError) as info:
        async for _ in stream:
            pass
    assert (info.value.status_code, info.value.google_status) == (503, "UNAVAILABLE")
    assert info.value.partial is not None
    assert info.value.partial.choices[0].message.content == "so far"
    assert response.closed == 1


async def test_aclose_mid_stream_closes_the_connection_once() -> None:
    response = FedResponse([sse("first")])  # then nothing: the body stays open
    closed_with: list[Usage | None] = []
    stream = fed_stream(response, on_close=closed_with.append)
    first = await stream.__anext__()
    assert first.choices[0].delta.content == "first"
    assert (response.released, response.closed) == (0, 0)
    await stream.aclose()
    await stream.aclose()
    assert (response.released, response.closed) == (0, 1)
    assert closed_with == [None]
    assert not stream.finished and "closed" in repr(stream)
    assert stream.completion.choices[0].message.content == "first"


async def test_break_and_drop_closes_the_connection() -> None:
    response = FedResponse([sse("first"), sse("second")])
    stream = fed_stream(response)
    async for _ in stream:
        break
    assert response.closed == 0
    del stream
    gc.collect()
    assert (response.released, response.closed) == (0, 1)


async def test_idle_timeout_interrupts_a_silent_body() -> None:
    response = FedResponse([sse("only")])  # then silence
    stream = fed_stream(response, idle_timeout=0.05)
    received = []
    with pytest.raises(StreamTimeoutError) as info:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    error = info.value
    assert received == ["only"]
    assert isinstance(error, APITimeoutError) and error.kind == "idle"
    assert isinstance(error.cause, APITimeoutError) and error.cause.kind == "idle"
    assert error.chunks_received == 1
    assert error.partial.choices[0].message.content == "only"
    assert response.closed == 1


async def test_a_restart_continues_on_a_fresh_response_from_nothing() -> None:
    broken = FedResponse([sse("stale "), b""])
    fresh = FedResponse([sse("new "), sse("answer", finish="stop"), DONE],
                        headers={"x-request-id": "req-2"})
    calls: list[tuple[type[APIError], int]] = []

    async def restart(error: APIError, chunks_shown: int) -> Any:
        calls.append((type(error), chunks_shown))
        return fresh

    stream = fed_stream(broken, restart=restart)
    texts = [chunk.choices[0].delta.content async for chunk in stream]
    # The caller saw the broken attempt's chunk, then the whole new answer.
    assert texts == ["stale ", "new ", "answer"]
    assert calls == [(StreamInterruptedError, 1)]
    assert stream.restarts == 1 and stream.finished
    assert stream.completion.choices[0].message.content == "new answer"
    assert stream.request_id == "req-2"
    assert len(stream.metrics.chunk_times) == 2  # counted again from the restart
    assert (broken.released, broken.closed) == (0, 1)
    assert (fresh.released, fresh.closed) == (1, 0)


async def test_a_refused_restart_raises_and_closes() -> None:
    response = FedResponse([sse("a"), b""])

    async def restart(error: APIError, chunks_shown: int) -> Any:
        raise error

    stream = fed_stream(response, restart=restart)
    with pytest.raises(StreamInterruptedError):
        async for _ in stream:
            pass
    assert stream.restarts == 0
    assert response.closed >= 1 and response.released == 0


# -- through the client, against the emulator ----------------------------------------------------
async def test_stream_yields_chunks_and_accumulates(client: AsyncVertexChat) -> None:
    plain = await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=6)
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=6, stream=True,
        stream_options={"include_usage": True},
    )
    pieces = []
    async with stream:
        async for chunk in stream:
            pieces.extend(c.delta.content or "" for c in chunk.choices)
    assert stream.finished
    assert "".join(pieces) == plain.choices[0].message.content
    assert stream.completion.choices[0].message.content == plain.choices[0].message.content
    assert stream.completion.choices[0].finish_reason == "length"
    assert stream.usage is not None and stream.usage.completion_tokens == 6
    metrics = stream.metrics
    assert metrics.headers_at is not None and metrics.first_chunk_at is not None
    assert metrics.first_content_at is not None and metrics.end_at is not None
    assert metrics.started_at <= metrics.headers_at <= metrics.first_chunk_at
    assert metrics.first_chunk_at <= metrics.first_content_at <= metrics.end_at
    assert len(metrics.chunk_times) >= 6
    assert metrics.chunk_times == sorted(metrics.chunk_times)
    assert len(metrics.inter_chunk_latencies) == len(metrics.chunk_times) - 1


async def test_stream_without_done_marker_ends_cleanly(emulator: Emulator) -> None:
    emulator.config.send_done = False
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k") as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=3, stream=True
        )
        chunks = [chunk async for chunk in stream]
        assert stream.finished
        assert len(chunks) >= 3
        assert client.connections_in_use == 0


async def test_n_choices_in_stream(client: AsyncVertexChat) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=4, n=2, stream=True
    )
    async for _ in stream:
        pass
    choices = stream.completion.choices
    assert [c.index for c in choices] == [0, 1]
    assert all(c.finish_reason == "length" for c in choices)
    assert choices[0].message.content != choices[1].message.content


async def test_break_and_drop_releases_connection(emulator: Emulator) -> None:
    emulator.config.itl = 30.0  # keep the body open: aiohttp frees a fully read connection itself
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k") as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=50, stream=True
        )
        async for _ in stream:
            break
        assert client.connections_in_use == 1
        del stream
        gc.collect()
        assert client.connections_in_use == 0


async def test_aclose_mid_stream_releases_connection(emulator: Emulator) -> None:
    emulator.config.itl = 30.0
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k") as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=50, stream=True
        )
        await stream.__anext__()
        assert client.connections_in_use == 1
        await stream.aclose()
        await stream.aclose()  # idempotent
        assert client.connections_in_use == 0
        assert not stream.finished
        assert stream.completion.choices[0].message.content


async def test_cancellation_mid_stream_releases_connection(emulator: Emulator) -> None:
    emulator.config.itl = 30.0  # the second chunk never comes within the test
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k") as client:
        first_chunk = asyncio.Event()

        async def consume() -> None:
            stream = await client.chat.completions.create(
                model=MODEL, messages=HELLO, max_tokens=5, stream=True
            )
            async for _ in stream:
                first_chunk.set()

        task = asyncio.create_task(consume())
        await first_chunk.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert client.connections_in_use == 0


async def test_truncated_stream_raises_with_partial(client: AsyncVertexChat) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=10, stream=True,
        extra_headers=fault("truncate:after=3"),
    )
    received = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    assert info.value.chunks_received == 3
    assert info.value.partial.choices[0].message.content == "".join(received)
    assert len(received) == 3


async def test_reset_mid_stream_raises_with_partial(client: AsyncVertexChat) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=10, stream=True,
        extra_headers=fault("reset-mid-stream:after=2"),
    )
    with pytest.raises(StreamInterruptedError) as info:
        async for _ in stream:
            pass
    assert info.value.chunks_received == 2
    assert isinstance(info.value.cause, APIConnectionError)
    assert info.value.partial.choices[0].message.content


async def test_error_event_in_stream_is_typed(client: AsyncVertexChat) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=10, stream=True,
        extra_headers=fault("error-in-stream:after=2:code=503"),
    )
    with pytest.raises(InternalServerError) as info:
        async for _ in stream:
            pass
    assert info.value.status_code == 503
    assert info.value.google_status == "UNAVAILABLE"
    assert info.value.partial is not None
    assert info.value.partial.choices[0].message.content


async def test_malformed_chunk_raises_interrupted(client: AsyncVertexChat) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=10, stream=True,
        extra_headers=fault("malformed-chunk:after=2"),
    )
    with pytest.raises(StreamInterruptedError, match="not valid JSON") as info:
        async for _ in stream:
            pass
    assert info.value.chunks_received == 2


async def test_trickled_stream_is_reassembled(client: AsyncVertexChat) -> None:
    reference = await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=20)
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=20, stream=True,
        extra_headers=fault("trickle:bytes=7"),
    )
    async for _ in stream:
        pass
    assert stream.completion.choices[0].message.content == reference.choices[0].message.content


async def test_an_open_stream_holds_its_slot_until_closed(emulator: Emulator) -> None:
    async with AsyncVertexChat(
        base_url=emulator.base_url, api_key="k", max_concurrency=1
    ) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=5, stream=True
        )
        assert client.stats.in_flight == 1
        queued = asyncio.create_task(
            client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=1)
        )
        await settle()
        assert client.stats.queued == 1 and not queued.done()
        first = await stream.__anext__()  # reading does not give the slot back
        assert first.choices is not None
        assert client.stats.in_flight == 1 and not queued.done()
        await stream.aclose()
        await queued
        assert client.stats.in_flight == 0 and client.stats.queued == 0
        await stream.aclose()  # a second close frees nothing more
        assert client.stats.in_flight == 0
        assert client.connections_in_use == 0


async def test_a_stream_read_to_its_end_gives_its_slot_back(emulator: Emulator) -> None:
    async with AsyncVertexChat(
        base_url=emulator.base_url, api_key="k", max_concurrency=2
    ) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=4, stream=True
        )
        assert client.stats.in_flight == 1
        chunks = [chunk async for chunk in stream]
        assert chunks and stream.finished
        assert client.stats.in_flight == 0
        assert client.connections_in_use == 0


async def test_cancel_mid_stream(held_emulator: Emulator) -> None:
    async with AsyncVertexChat(base_url=held_emulator.base_url, api_key="k") as client:
        received: list[str] = []

        async def consume() -> None:
            stream = await client.chat.completions.create(
                model=MODEL, messages=HELLO, max_tokens=20, stream=True
            )
            async for chunk in stream:
                received.append(chunk.choices[0].delta.content or "")

        task = asyncio.ensure_future(consume())
        await until(lambda: len(received) >= 1)
        await cancel(task)
        assert_nothing_held(client)

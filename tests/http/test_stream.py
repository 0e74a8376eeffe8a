"""`ChatStream`: chunks, accumulation and metrics; giving the connection and the concurrency slot
back however iteration ends (end of body, error, break, aclose, cancellation); failures mid-stream
keeping what arrived in `.partial`. Through the client against the emulator.
"""

from __future__ import annotations

import asyncio
import gc

import pytest

from aiovertexchat import (
    APIConnectionError,
    AsyncVertexChat,
    InternalServerError,
    StreamInterruptedError,
)
from aiovertexchat.emulator import Emulator
from tests.helpers import HELLO, MODEL, assert_nothing_held, cancel, fault, settle, until


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

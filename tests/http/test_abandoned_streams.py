"""A stream abandoned without `aclose()` or `async with` gives its slot and connection back as
soon as its last reference goes, with the garbage collector off.

The `ChatStream` the caller holds is in no reference cycle (its reading generator refers to an
inner core, not to it), so dropping it frees it at once and its `__del__` closes the core.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from aiovertexchat import AsyncVertexChat, ChatStream
from aiovertexchat.emulator import Emulator, EmulatorConfig

MODEL = "google/gemini-2.5-flash"
HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.fixture
async def slow_emulator() -> AsyncIterator[Emulator]:
    # One chunk at once, the next after 30 s: a stream stays open for the whole test, so only
    # the client can give its connection back (aiohttp frees a fully read one by itself).
    async with Emulator(EmulatorConfig(ttft=0.0, itl=30.0)) as emu:
        yield emu


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """Whatever reaches the event loop's exception handler (e.g. a generator closed badly)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    yield seen
    loop.set_exception_handler(previous)


async def _read_one_then_break(client: AsyncVertexChat) -> str:
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=50, stream=True
    )
    async for chunk in stream:
        text = chunk.choices[0].delta.content or ""
        break
    return text  # `stream` is dropped here, neither closed nor read to its end


async def test_break_without_close_gives_slot_and_connection_back_without_gc(
    slow_emulator: Emulator, no_gc: None, loop_errors: list[dict[str, Any]]
) -> None:
    async with AsyncVertexChat(
        base_url=slow_emulator.base_url, api_key="k", max_concurrency=2
    ) as client:
        for _ in range(2):
            assert await _read_one_then_break(client)
            assert client.stats.in_flight == 0
            assert client.connections_in_use == 0
        # Both slots are free: a third call is admitted at once, without gc.collect().
        assert client.stats.queued == 0
        third = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=50, stream=True
        )
        assert client.stats.in_flight == 1 and client.stats.queued == 0
        await third.aclose()
        await asyncio.sleep(0)  # the orphaned generators are finalized on this loop turn
        await asyncio.sleep(0)
    assert loop_errors == []


async def test_a_stream_dropped_before_reading_is_released(
    slow_emulator: Emulator, no_gc: None
) -> None:
    async with AsyncVertexChat(
        base_url=slow_emulator.base_url, api_key="k", max_concurrency=1
    ) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=50, stream=True
        )
        assert client.stats.in_flight == 1
        del stream
        assert client.stats.in_flight == 0 and client.connections_in_use == 0


async def test_a_stream_read_by_anext_then_dropped_is_released(
    slow_emulator: Emulator, no_gc: None
) -> None:
    async with AsyncVertexChat(
        base_url=slow_emulator.base_url, api_key="k", max_concurrency=1
    ) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=50, stream=True
        )
        first = await stream.__anext__()
        assert first.choices
        del stream, first
        assert client.stats.in_flight == 0 and client.connections_in_use == 0
        await asyncio.sleep(0)


async def test_a_stream_still_held_after_break_can_be_resumed(no_gc: None) -> None:
    async with Emulator(EmulatorConfig()) as emulator, AsyncVertexChat(
        base_url=emulator.base_url, api_key="k", max_concurrency=1
    ) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=6, stream=True
        )
        pieces = []
        async for chunk in stream:
            pieces.append(chunk)
            break
        assert client.stats.in_flight == 1  # held, not abandoned: the slot stays with it
        async for chunk in stream:
            pieces.append(chunk)
        assert stream.finished and len(pieces) > 1
        assert client.stats.in_flight == 0 and client.connections_in_use == 0


def test_a_chat_stream_is_in_no_reference_cycle() -> None:
    # The property the above relies on, checked directly: nothing the stream owns refers back
    # to it, so reference counting alone frees it.
    import aiovertexchat._http.stream as stream_module

    class _Body:
        headers: dict[str, str] = {}  # noqa: RUF012
        status = 200

        def __init__(self) -> None:
            self.closed = False

        async def read_chunk(self) -> bytes:
            return b""

        def close(self) -> None:
            self.closed = True

        def release(self) -> None:
            self.closed = True

        def fail(self, error: BaseException) -> None:
            pass

    async def scenario() -> None:
        body = _Body()
        closed: list[object] = []
        stream = ChatStream(
            body,  # type: ignore[arg-type]
            metrics=stream_module.StreamMetrics(started_at=0.0),
            request_id=None,
            on_close=closed.append,
            idle_timeout=60.0,
            deadline=asyncio.get_running_loop().time() + 60,
            total_timeout=60.0,
        )
        assert stream not in gc.get_referents(*gc.get_referents(stream))
        del stream
        assert body.closed and closed == [None]

    gc.disable()
    try:
        asyncio.run(scenario())
    finally:
        gc.enable()

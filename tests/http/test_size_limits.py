"""Every byte the client accepts has a ceiling: `SizeLimits` against hostile servers.

- A 1 MB gzip body that expands to 1 GiB is refused after `SizeLimits.body` decoded bytes,
  with a low peak of memory; so is a 500 MB body (at once when its Content-Length says so).
- A 60 MiB stream event stops at `SizeLimits.event`, a long stream at `SizeLimits.stream`, both
  with `.partial`.
- Decoding does not amplify without bound: deep nesting is an unreadable answer (never a
  `RecursionError`), and a body of tiny objects costs a bounded multiple of its size.

Memory is measured with `tracemalloc` (every bytes object aiohttp and zlib make is a Python
allocation); the bounds are loose multiples of the limits, far below what the old behaviour
needed (the whole expanded body).
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from aiovertexchat import (
    APIError,
    APIResponseValidationError,
    AsyncVertexChat,
    FailureKind,
    InternalServerError,
    ResponseTooLargeError,
    RetryPolicy,
    SizeLimits,
    StreamInterruptedError,
    classify_failure,
)

from .hostile import (
    PIECE,
    HostileServer,
    chunk,
    completion,
    gzip_bomb,
    json_reply,
    pieces,
    streamed_body,
)

MODEL = "some-model"
HELLO = [{"role": "user", "content": "hello"}]
MiB = 1024 * 1024
DEFAULTS = SizeLimits()


def client_for(url: str, **options: Any) -> AsyncVertexChat:
    # Retries allowed: a size limit must still be final (the server did the work).
    options.setdefault("retry", RetryPolicy(base=0.001, cap=0.01))
    return AsyncVertexChat(base_url=url, api_key="k", **options)


class Peak:
    """Peak traced Python memory above the level when entered, in bytes."""

    def __enter__(self) -> Peak:
        tracemalloc.start()
        tracemalloc.reset_peak()
        self.base = tracemalloc.get_traced_memory()[0]
        return self

    def __exit__(self, *exc: object) -> None:
        self.bytes = tracemalloc.get_traced_memory()[1] - self.base
        tracemalloc.stop()


def test_the_defaults_fit_the_documented_concurrency() -> None:
    assert (DEFAULTS.body, DEFAULTS.event, DEFAULTS.stream) == (8 * MiB, 1 * MiB, 8 * MiB)
    # README: at the default max_concurrency of 100, at most 100 x 8 MiB of answers.
    assert 100 * max(DEFAULTS.body, DEFAULTS.stream) <= 800 * MiB
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="SizeLimits"):
            SizeLimits(body=bad)  # type: ignore[arg-type]


# -- non-streamed bodies --------------------------------------------------------------------------
async def test_a_gzip_bomb_is_refused_early_with_little_memory() -> None:
    bomb = gzip_bomb()  # ~1 MB on the wire, 1 GiB once inflated
    assert len(bomb) < 1.1 * MiB
    handler = streamed_body(
        lambda: (bomb[i : i + PIECE] for i in range(0, len(bomb), PIECE)),
        length=len(bomb), encoding="gzip",
    )
    async with HostileServer(handler) as server, client_for(server.base_url) as client:
        with Peak() as peak, pytest.raises(ResponseTooLargeError) as info:
            await client.chat.completions.create(model=MODEL, messages=HELLO)
        assert client.connections_in_use == 0
    error = info.value
    assert (error.limit_name, error.limit) == ("body", DEFAULTS.body)
    assert classify_failure(error).kind is FailureKind.TOO_LARGE
    assert server.requests == 1  # not retried
    assert peak.bytes < 4 * DEFAULTS.body  # the old behaviour held the whole GiB (2.1 GB RSS)


async def test_a_500_mb_body_with_its_length_is_refused_before_reading() -> None:
    size = 500 * 1000 * 1000
    async with HostileServer(
        streamed_body(lambda: pieces(size), length=size)
    ) as server, client_for(server.base_url) as client:
        with Peak() as peak, pytest.raises(ResponseTooLargeError, match="Content-Length") as info:
            await client.chat.completions.create(model=MODEL, messages=HELLO)
        assert client.connections_in_use == 0
    assert info.value.limit_name == "body"
    assert server.requests == 1
    assert peak.bytes < DEFAULTS.body
    assert server.bytes_sent < 16 * MiB  # what the socket buffers took before the close


async def test_a_500_mb_body_without_a_length_is_cut_at_the_limit() -> None:
    size = 500 * 1000 * 1000
    async with HostileServer(streamed_body(lambda: pieces(size))) as server, client_for(
        server.base_url
    ) as client:
        with Peak() as peak, pytest.raises(ResponseTooLargeError, match="decoded bytes") as info:
            await client.chat.completions.create(model=MODEL, messages=HELLO)
        assert client.connections_in_use == 0
    assert (info.value.limit_name, info.value.limit) == ("body", DEFAULTS.body)
    assert peak.bytes < 4 * DEFAULTS.body
    assert server.bytes_sent < 64 * MiB


async def test_a_body_at_the_limit_is_read_and_one_byte_more_is_not() -> None:
    body = json.dumps(completion("x" * 500)).encode()
    for limit, fits in ((len(body), True), (len(body) - 1, False)):
        async with HostileServer(json_reply(body)) as server, client_for(
            server.base_url, size_limits=SizeLimits(body=limit)
        ) as client:
            if fits:
                answer = await client.chat.completions.create(model=MODEL, messages=HELLO)
                assert answer.choices[0].message.content == "x" * 500
            else:
                with pytest.raises(ResponseTooLargeError):
                    await client.chat.completions.create(model=MODEL, messages=HELLO)
            assert client.size_limits.body == limit
            assert client.connections_in_use == 0


async def test_a_compressed_body_counts_its_decoded_bytes() -> None:
    import gzip

    body = json.dumps(completion("y" * 20_000)).encode()
    packed = gzip.compress(body)
    assert len(packed) < 1000 < len(body)
    handler = streamed_body(lambda: iter([packed]), length=len(packed), encoding="gzip")
    async with HostileServer(handler) as server, client_for(
        server.base_url, size_limits=SizeLimits(body=10_000)
    ) as client:
        with pytest.raises(ResponseTooLargeError) as info:
            await client.chat.completions.create(model=MODEL, messages=HELLO)
    assert info.value.limit == 10_000


# -- streams --------------------------------------------------------------------------------------
def _huge_event(size: int) -> Iterator[bytes]:
    yield chunk("Hello")
    yield chunk(" world")
    yield b"data: "
    yield from pieces(size, b"y" * PIECE)
    yield b"\n\n"


async def test_a_60_mib_event_stops_at_the_event_limit_with_what_arrived() -> None:
    handler = streamed_body(lambda: _huge_event(60 * MiB), content_type="text/event-stream")
    async with HostileServer(handler) as server, client_for(server.base_url) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        received: list[str | None] = []
        with Peak() as peak, pytest.raises(ResponseTooLargeError) as info:
            async for piece in stream:
                received.append(piece.choices[0].delta.content)
        assert client.connections_in_use == 0 and client.stats.in_flight == 0
    error = info.value
    assert (error.limit_name, error.limit) == ("event", DEFAULTS.event)
    assert received == ["Hello", " world"]
    assert error.partial is not None and error.partial.choices[0].message.content == "Hello world"
    assert server.requests == 1
    assert server.bytes_sent < 60 * MiB
    assert peak.bytes < 8 * DEFAULTS.event  # the old behaviour peaked at 278 MiB


async def test_a_stream_stops_at_the_stream_limit_with_what_arrived() -> None:
    events = [chunk(f"piece {i} ") for i in range(2000)]  # ~170 KB in all
    handler = streamed_body(lambda: iter(events), content_type="text/event-stream")
    limit = 64 * 1024
    async with HostileServer(handler) as server, client_for(
        server.base_url, size_limits=SizeLimits(stream=limit)
    ) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        received: list[str] = []
        with pytest.raises(ResponseTooLargeError) as info:
            async for piece in stream:
                received.append(piece.choices[0].delta.content or "")
        assert client.connections_in_use == 0 and client.stats.in_flight == 0
    error = info.value
    assert (error.limit_name, error.limit) == ("stream", limit)
    # Every event that fits within the limit was shown, and none past it.
    assert sum(len(e) for e in events[: len(received)]) <= limit
    assert sum(len(e) for e in events[: len(received) + 1]) > limit
    assert error.partial is not None
    assert error.partial.choices[0].message.content == "".join(received)
    assert isinstance(error, APIError) and server.requests == 1


async def test_a_stream_within_its_limits_is_untouched() -> None:
    events = [chunk("a" * 100) for _ in range(50)] + [chunk("", finish="stop"), b"data: [DONE]\n\n"]
    handler = streamed_body(lambda: iter(events), content_type="text/event-stream")
    total = sum(map(len, events))
    async with HostileServer(handler) as server, client_for(
        server.base_url, size_limits=SizeLimits(event=len(events[0]), stream=total)
    ) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        async with stream:
            async for _ in stream:
                pass
    assert stream.finished
    assert stream.completion.choices[0].message.content == "a" * 5000


# -- decoding amplification -----------------------------------------------------------------------
def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def test_deeply_nested_json_is_an_unreadable_answer_not_a_crash() -> None:
    body = json.dumps(completion()).encode().replace(
        b'"finish_reason"', b'"logprobs": ' + _nested(100_000) + b', "finish_reason"'
    )
    async with HostileServer(json_reply(body)) as server, client_for(server.base_url) as client:
        with pytest.raises(APIResponseValidationError, match="nested too deeply") as info:
            await client.chat.completions.create(model=MODEL, messages=HELLO)
    assert info.value.status_code == 200
    assert server.requests == 1  # final: the server did the work


async def test_a_deeply_nested_stream_event_interrupts_the_stream() -> None:
    nested = b'data: {"choices": [{"index": 0, "delta": {}, "logprobs": ' + _nested(50_000)
    events = [chunk("Hi"), nested + b"}]}\n\n"]
    handler = streamed_body(lambda: iter(events), content_type="text/event-stream")
    async with HostileServer(handler) as server, client_for(server.base_url) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        with pytest.raises(StreamInterruptedError) as info:
            async for _ in stream:
                pass
    assert isinstance(info.value.cause, APIResponseValidationError)
    assert info.value.partial.choices[0].message.content == "Hi"
    assert server.requests == 1


async def test_a_deeply_nested_error_body_still_gives_a_typed_error() -> None:
    async with HostileServer(json_reply(_nested(30_000), status=500)) as server, client_for(
        server.base_url, retry=RetryPolicy.never()
    ) as client:
        with pytest.raises(InternalServerError) as info:
            await client.chat.completions.create(model=MODEL, messages=HELLO)
    assert info.value.status_code == 500
    assert server.requests == 1


async def test_many_tiny_objects_cost_a_bounded_multiple_of_the_limit() -> None:
    # The worst shape for a free-form field (`extra_content`): empty lists, 3 bytes of JSON
    # each, ~60 bytes of Python objects each. The limit caps the input, so the cost is capped too.
    limit = 1 * MiB
    answer_json = completion()
    answer_json["choices"][0]["message"]["extra_content"] = {"google": "@"}
    head, tail = json.dumps(answer_json).encode().split(b'"@"')
    count = (limit - len(head) - len(tail) - 2) // 3
    body = head + b"[" + b",".join([b"[]"] * count) + b"]" + tail
    assert len(body) <= limit
    async with HostileServer(json_reply(body)) as server, client_for(
        server.base_url, size_limits=SizeLimits(body=limit)
    ) as client:
        with Peak() as peak:
            answer = await client.chat.completions.create(model=MODEL, messages=HELLO)
            extra = answer.choices[0].message.extra_content
            assert isinstance(extra, dict) and len(extra["google"]) == count
            del answer, extra
        with pytest.raises(ResponseTooLargeError):
            async with HostileServer(json_reply(body + b" " * 10)) as bigger, client_for(
                bigger.base_url, size_limits=SizeLimits(body=limit)
            ) as other:
                await other.chat.completions.create(model=MODEL, messages=HELLO)
    assert peak.bytes < 32 * limit  # measured: about 24 bytes of objects per byte of input

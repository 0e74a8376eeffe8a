"""Every emulator fault against the real client over loopback HTTP, outcome by outcome.

Each test pins down what the caller sees (error class, `.kind`, `.partial`), how many attempts
were made (`len(err.attempts)`, `client.stats`), what the emulator saw (`emulator.stats`), and
that no connection is left checked out. Backoff is in milliseconds; nothing asserts on time.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import pytest

from aiovertexchat import (
    APIConnectionError,
    APITimeoutError,
    AsyncVertexChat,
    BadRequestError,
    ChatStream,
    InternalServerError,
    RateLimitError,
    StreamInterruptedError,
)
from aiovertexchat._reliability.retry import RetryPolicy, retry_after_seconds
from aiovertexchat._reliability.timeouts import Timeouts
from aiovertexchat.emulator import Emulator
from aiovertexchat.errors import StreamTimeoutError

MODEL = "google/gemini-2.5-flash"
HELLO = [{"role": "user", "content": "hello there emulator"}]
FAST = RetryPolicy(base=0.001, cap=0.01)


def always(spec: str) -> dict[str, str]:
    """The fault on every request carrying the header (so on every retry too)."""
    return {"X-Emulator-Fault": spec}


def once(key: str, spec: str, times: int = 1) -> dict[str, str]:
    """The fault on the first `times` requests with this key: fail, then succeed."""
    return {"X-Emulator-Fault-Once": f"{key}={spec}*{times}"}


@asynccontextmanager
async def chat(
    emulator: Emulator, retry: RetryPolicy = FAST, **options: Any
) -> AsyncIterator[AsyncVertexChat]:
    """A client with a given policy that must give every connection back before it closes."""
    async with AsyncVertexChat(
        base_url=emulator.base_url, api_key="test-token", retry=retry, **options
    ) as client:
        yield client
        assert client.connections_in_use == 0


def record_backoff(client: AsyncVertexChat) -> list[float]:
    """Swap the attempt loop's sleep for one that records each backoff and does not wait."""
    delays: list[float] = []

    async def no_sleep(seconds: float) -> None:
        delays.append(seconds)
        await asyncio.sleep(0)

    client._dispatcher._sleep = no_sleep
    return delays


async def drain(stream: ChatStream) -> list[str]:
    """Iterate the stream, returning each chunk's first-choice text as it was handed over."""
    pieces: list[str] = []
    async for chunk in stream:
        if chunk.choices:
            pieces.append(chunk.choices[0].delta.content or "")
    return pieces


async def reference_text(client: AsyncVertexChat, max_tokens: int) -> str:
    """The fault-free answer to HELLO (the emulator's answers are deterministic)."""
    completion = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=max_tokens
    )
    text = completion.choices[0].message.content
    assert text
    return text


def retries(client: AsyncVertexChat) -> dict[str, int]:
    return dict(client.stats.retries)


# -- error statuses -----------------------------------------------------------------------------
async def test_429_with_retry_after_is_retried_then_succeeds(
    client: AsyncVertexChat, emulator: Emulator
) -> None:
    completion = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=4,
        extra_headers=once("ra", "429:retry-after=0", times=2),
    )
    assert completion.choices[0].finish_reason == "length"
    stats = client.stats
    assert retries(client) == {"429": 2}
    assert (stats.rate_limited, stats.attempts, stats.requests, stats.failures) == (2, 3, 1, 0)
    assert emulator.stats.by_status == {429: 2, 200: 1}
    assert emulator.stats.faults == {"429": 2}
    assert client.connections_in_use == 0


async def test_429_retry_after_hint_sets_the_backoff(emulator: Emulator) -> None:
    async with chat(emulator) as client:
        delays = record_backoff(client)
        await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=2,
            extra_headers=once("hint", "429:retry-after=0.004", times=1),
        )
        # The server's hint replaces the jittered draw (and is above this policy's `cap`).
        assert delays == [pytest.approx(0.004)]
        assert retries(client) == {"429": 1}


async def test_429_retry_after_ms_is_honoured_and_capped(emulator: Emulator) -> None:
    policy = RetryPolicy(base=0.001, cap=0.01, max_retry_after=0.01, max_attempts=3)
    async with chat(emulator, retry=policy) as client:
        delays = record_backoff(client)
        # retry-after-ms wins over Retry-After; an hour-long Retry-After would otherwise be
        # capped too, so the small ms value proves which header was read.
        with pytest.raises(RateLimitError) as info:
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, max_tokens=2,
                extra_headers=always("429:retry-after=3600:retry-after-ms=3"),
            )
        assert delays == [pytest.approx(0.003)] * 2
        error = info.value
        assert len(error.attempts) == 3
        assert error.headers["retry-after-ms"] == "3"
        assert error.headers["Retry-After"] == "3600"
        hint = retry_after_seconds(error.headers, time.time())
        assert hint == pytest.approx(0.003)
        assert policy.delay(1, random.Random(0), hint) == pytest.approx(0.003)

        # A hint longer than max_retry_after is cut to it.
        delays.clear()
        with pytest.raises(RateLimitError) as info:
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, max_tokens=2,
                extra_headers=always("429:retry-after-ms=5000"),
            )
        assert delays == [0.01, 0.01]
        hint = retry_after_seconds(info.value.headers, time.time())
        assert hint == pytest.approx(5.0)
        assert policy.delay(1, random.Random(0), hint) == 0.01
        assert retries(client) == {"429": 4}
        assert client.stats.rate_limited == 6
        assert emulator.stats.by_status == {429: 6}


async def test_429_without_retry_after_uses_jittered_backoff(emulator: Emulator) -> None:
    async with chat(emulator) as client:
        delays = record_backoff(client)
        with pytest.raises(RateLimitError) as info:
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, extra_headers=always("429")
            )
        error = info.value
        assert error.status_code == 429
        assert error.google_status == "RESOURCE_EXHAUSTED"
        assert error.reason == "RATE_LIMIT_EXCEEDED"
        assert "Retry-After" not in error.headers
        assert len(error.attempts) == 4  # the default max_attempts
        assert len(delays) == 3
        for n, delay in enumerate(delays, 1):
            assert 0.0 <= delay <= min(FAST.cap, FAST.base * 2 ** (n - 1))
        stats = client.stats
        assert retries(client) == {"429": 3}
        assert (stats.rate_limited, stats.attempts, stats.failures) == (4, 4, 1)
        assert emulator.stats.by_status == {429: 4}
        assert emulator.stats.faults == {"429": 4}


async def test_500_is_retried_until_max_attempts(
    client: AsyncVertexChat, emulator: Emulator
) -> None:
    with pytest.raises(InternalServerError) as info:
        await client.chat.completions.create(
            model=MODEL, messages=HELLO, extra_headers=always("500")
        )
    error = info.value
    assert error.status_code == 500
    assert error.google_status == "INTERNAL"
    assert len(error.attempts) == 4
    assert all(line.startswith("500 INTERNAL") for line in error.attempts)
    assert error.attempts[-1].endswith("[max_attempts=4 reached]")
    assert retries(client) == {"500": 3}
    assert client.stats.rate_limited == 0
    assert client.stats.failures == 1
    assert emulator.stats.by_status == {500: 4}
    assert emulator.stats.faults == {"500": 4}
    assert client.connections_in_use == 0


async def test_503_once_then_success(client: AsyncVertexChat, emulator: Emulator) -> None:
    completion = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=3, extra_headers=once("u", "503")
    )
    assert completion.choices[0].finish_reason == "length"
    assert retries(client) == {"503": 1}
    assert client.stats.attempts == 2
    assert client.stats.rate_limited == 0
    assert emulator.stats.by_status == {503: 1, 200: 1}
    assert emulator.stats.faults == {"503": 1}
    assert client.connections_in_use == 0


async def test_503_final_error_is_typed(emulator: Emulator) -> None:
    async with chat(emulator, retry=RetryPolicy(base=0.001, cap=0.01, max_attempts=2)) as client:
        with pytest.raises(InternalServerError) as info:
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, extra_headers=always("503")
            )
        assert info.value.status_code == 503
        assert info.value.google_status == "UNAVAILABLE"
        assert len(info.value.attempts) == 2
        assert retries(client) == {"503": 1}
        assert emulator.stats.by_status == {503: 2}


async def test_list_error_is_parsed_and_retried(
    client: AsyncVertexChat, emulator: Emulator
) -> None:
    with pytest.raises(RateLimitError) as info:
        await client.chat.completions.create(
            model=MODEL, messages=HELLO, extra_headers=always("list-error")
        )
    error = info.value
    assert error.status_code == 429
    assert error.google_status == "RESOURCE_EXHAUSTED"
    assert error.reason == "RATE_LIMIT_EXCEEDED"
    assert "Resource exhausted" in error.message
    assert isinstance(error.body, list) and len(error.body) == 1
    assert len(error.attempts) == 4
    assert retries(client) == {"429": 3}
    assert emulator.stats.by_status == {429: 4}
    assert emulator.stats.faults == {"list-error": 4}
    assert client.connections_in_use == 0


async def test_html_error_message_is_readable(
    client: AsyncVertexChat, emulator: Emulator
) -> None:
    with pytest.raises(InternalServerError) as info:
        await client.chat.completions.create(
            model=MODEL, messages=HELLO, extra_headers=always("html-error")
        )
    error = info.value
    assert error.status_code == 502
    assert error.google_status is None
    assert "Error 502 (Server Error)!!1" in error.message
    assert "<" not in error.message and ">" not in error.message
    assert error.message.startswith("request failed with HTTP 502: ")
    assert len(error.attempts) == 4
    assert all(line.startswith("502") for line in error.attempts)
    assert retries(client) == {"502": 3}
    assert emulator.stats.by_status == {502: 4}
    assert emulator.stats.faults == {"html-error": 4}
    assert client.connections_in_use == 0


async def test_non_retryable_400_makes_one_attempt(
    client: AsyncVertexChat, emulator: Emulator
) -> None:
    with pytest.raises(BadRequestError) as info:
        await client.chat.completions.create(
            model=MODEL, messages=HELLO, extra_headers=always("400")
        )
    error = info.value
    assert error.status_code == 400
    assert len(error.attempts) == 1
    assert "attempts" not in str(error)
    stats = client.stats
    assert (stats.attempts, stats.failures, stats.total_retries) == (1, 1, 0)
    assert emulator.stats.by_status == {400: 1}
    assert emulator.stats.faults == {"400": 1}
    assert client.connections_in_use == 0


async def test_final_error_lists_every_attempt(emulator: Emulator) -> None:
    async with chat(emulator, retry=RetryPolicy(base=0.001, cap=0.01, max_attempts=3)) as client:
        headers = {
            **always("503"),
            # The first request is reset, so the history mixes causes.
            **once("mix", "reset-before-headers"),
        }
        with pytest.raises(InternalServerError) as info:
            await client.chat.completions.create(model=MODEL, messages=HELLO, extra_headers=headers)
        error = info.value
        text = str(error)
        assert len(error.attempts) == 3
        assert error.attempts[0].startswith("APIConnectionError: ")
        assert error.attempts[1].startswith("503 UNAVAILABLE")
        assert error.attempts[2].startswith("503 UNAVAILABLE")
        assert error.attempts[2].endswith("[max_attempts=3 reached]")
        assert text.startswith(error.message)
        assert "(after 3 attempts: #1 APIConnectionError" in text
        assert "; #2 503 UNAVAILABLE" in text and "; #3 503 UNAVAILABLE" in text
        assert retries(client) == {"connection": 1, "503": 1}


# -- connection resets --------------------------------------------------------------------------
async def test_reset_before_headers_then_success(
    client: AsyncVertexChat, emulator: Emulator
) -> None:
    completion = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=3, extra_headers=once("rst", "reset-before-headers")
    )
    assert completion.choices[0].finish_reason == "length"
    assert retries(client) == {"connection": 1}
    assert client.stats.attempts == 2
    assert emulator.stats.by_status == {200: 1}  # a reset answers no status
    assert emulator.stats.faults == {"reset-before-headers": 1}
    assert client.connections_in_use == 0


async def test_reset_before_headers_every_time(emulator: Emulator) -> None:
    async with chat(emulator, retry=RetryPolicy(base=0.001, cap=0.01, max_attempts=2)) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, extra_headers=always("reset-before-headers")
            )
        assert not isinstance(info.value, APITimeoutError)
        assert len(info.value.attempts) == 2
        assert all(a.startswith("APIConnectionError: ") for a in info.value.attempts)
        assert retries(client) == {"connection": 1}
        assert emulator.stats.by_status == {}
        assert emulator.stats.faults == {"reset-before-headers": 2}


async def test_reset_mid_stream_after_chunks_is_not_retried(
    client: AsyncVertexChat, emulator: Emulator
) -> None:
    expected = await reference_text(client, 10)
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=10, stream=True,
        extra_headers=always("reset-mid-stream:after=2"),
    )
    received: list[str] = []
    with pytest.raises(StreamInterruptedError) as info:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    error = info.value
    assert not isinstance(error, StreamTimeoutError)
    assert isinstance(error.cause, APIConnectionError)
    assert error.chunks_received == 2 and len(received) == 2
    text = error.partial.choices[0].message.content
    assert text == "".join(received)
    assert text and expected.startswith(text)
    assert error.partial.choices[0].finish_reason is None
    assert len(error.attempts) == 1
    assert stream.restarts == 0
    assert retries(client) == {}
    assert client.stats.failures == 1
    assert emulator.stats.faults == {"reset-mid-stream": 1}
    assert emulator.stats.by_status == {200: 2}
    assert client.connections_in_use == 0


async def test_reset_mid_stream_restarts_with_restart_on_interrupt(emulator: Emulator) -> None:
    policy = RetryPolicy(base=0.001, cap=0.01, restart_on_interrupt=True)
    async with chat(emulator, retry=policy) as client:
        expected = await reference_text(client, 10)
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=10, stream=True,
            extra_headers=once("mid", "reset-mid-stream:after=2"),
        )
        async with stream:
            pieces = await drain(stream)
        assert stream.finished
        assert stream.restarts == 1
        # The caller saw two chunks of the broken attempt, then the whole new one.
        assert "".join(pieces[2:]) == expected
        assert "".join(pieces[:2]) == "".join(pieces[2:4])
        assert stream.completion.choices[0].message.content == expected
        assert stream.completion.choices[0].finish_reason == "length"
        assert retries(client) == {"interrupted": 1}
        assert client.stats.requests == 2  # the reference and the stream; a restart is no call
        assert client.stats.failures == 0
        assert emulator.stats.faults == {"reset-mid-stream": 1}
        assert emulator.stats.by_status == {200: 3}
        assert emulator.stats.streamed == 2


async def test_reset_before_first_chunk_is_retried_transparently(
    client: AsyncVertexChat, emulator: Emulator
) -> None:
    expected = await reference_text(client, 6)
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=6, stream=True,
        extra_headers=once("zero", "reset-mid-stream:after=0"),
    )
    pieces = await drain(stream)
    assert stream.finished
    assert "".join(pieces) == expected  # nothing of the broken attempt reached the caller
    assert stream.completion.choices[0].message.content == expected
    # The 200 headers went out (aiohttp's StreamResponse sends them on prepare), so the reset
    # is seen while reading the body: a restart before any chunk, invisible to the caller.
    assert stream.restarts == 1
    assert retries(client) == {"interrupted": 1}
    assert emulator.stats.by_status == {200: 3}
    assert client.stats.failures == 0
    assert emulator.stats.faults == {"reset-mid-stream": 1}
    assert client.connections_in_use == 0


async def test_reset_mid_body_of_plain_answer_is_retried(
    client: AsyncVertexChat, emulator: Emulator
) -> None:
    expected = await reference_text(client, 8)
    completion = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=8, extra_headers=once("body", "reset-mid-stream")
    )
    assert completion.choices[0].message.content == expected
    assert retries(client) == {"connection": 1}
    assert emulator.stats.by_status == {200: 3}
    assert client.connections_in_use == 0


# -- stalls and timeouts ------------------------------------------------------------------------
async def test_stall_before_headers_first_byte_timeout_is_retried(emulator: Emulator) -> None:
    timeouts = Timeouts(first_byte=0.2)
    async with chat(emulator, timeout=timeouts) as client:
        completion = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=3,
            extra_headers=once("st", "stall:seconds=5"),
        )
        assert completion.choices[0].finish_reason == "length"
        assert retries(client) == {"first_byte": 1}
        assert client.stats.attempts == 2
        assert emulator.stats.faults == {"stall": 1}
        assert emulator.stats.by_status == {200: 1}  # the stalled handler never answered


async def test_stall_before_headers_final_error_is_first_byte(emulator: Emulator) -> None:
    policy = RetryPolicy(base=0.001, cap=0.01, max_attempts=2)
    async with chat(emulator, retry=policy, timeout=Timeouts(first_byte=0.2)) as client:
        with pytest.raises(APITimeoutError) as info:
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, stream=True, extra_headers=always("stall:seconds=5")
            )
        error = info.value
        assert error.kind == "first_byte"
        assert not isinstance(error, StreamInterruptedError)
        assert len(error.attempts) == 2
        assert all("first_byte timeout" in a for a in error.attempts)
        assert retries(client) == {"first_byte": 1}
        assert emulator.stats.faults == {"stall": 2}


async def test_stall_mid_stream_idle_timeout_keeps_partial(emulator: Emulator) -> None:
    async with chat(emulator, timeout=Timeouts(idle=0.2)) as client:
        expected = await reference_text(client, 10)
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=10, stream=True,
            extra_headers=always("stall:seconds=5:after=2"),
        )
        received: list[str] = []
        with pytest.raises(StreamTimeoutError) as info:
            async for chunk in stream:
                received.append(chunk.choices[0].delta.content or "")
        error = info.value
        assert isinstance(error, APITimeoutError)
        assert isinstance(error, StreamInterruptedError)
        assert error.kind == "idle"
        assert isinstance(error.cause, APITimeoutError) and error.cause.kind == "idle"
        assert error.chunks_received == 2 and len(received) == 2
        text = error.partial.choices[0].message.content
        assert text == "".join(received)
        assert text and expected.startswith(text)
        assert len(error.attempts) == 1  # chunks were shown: not retried by default
        assert retries(client) == {}
        assert client.stats.failures == 1
        assert emulator.stats.faults == {"stall": 1}


async def test_stall_before_first_chunk_idle_timeout_is_retried(emulator: Emulator) -> None:
    async with chat(emulator, timeout=Timeouts(idle=0.2)) as client:
        expected = await reference_text(client, 5)
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=5, stream=True,
            extra_headers=once("idle0", "stall:seconds=5:after=0"),
        )
        pieces = await drain(stream)
        assert "".join(pieces) == expected
        assert stream.restarts == 1
        assert retries(client) == {"idle": 1}
        assert emulator.stats.faults == {"stall": 1}


async def test_total_deadline_before_headers_is_not_retried(emulator: Emulator) -> None:
    async with chat(emulator, timeout=Timeouts(total=0.3)) as client:
        with pytest.raises(APITimeoutError) as info:
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, extra_headers=always("stall:seconds=5")
            )
        error = info.value
        assert error.kind == "total"
        assert len(error.attempts) == 1
        assert retries(client) == {}
        assert client.stats.attempts == 1 and client.stats.failures == 1
        assert emulator.stats.faults == {"stall": 1}


async def test_total_deadline_mid_stream_is_not_retried(emulator: Emulator) -> None:
    policy = RetryPolicy(base=0.001, cap=0.01, restart_on_interrupt=True)
    timeouts = Timeouts(idle=None, total=0.5)
    async with chat(emulator, retry=policy, timeout=timeouts) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=10, stream=True,
            extra_headers=always("stall:seconds=5:after=2"),
        )
        received: list[str] = []
        with pytest.raises(StreamTimeoutError) as info:
            async for chunk in stream:
                received.append(chunk.choices[0].delta.content or "")
        error = info.value
        assert error.kind == "total"
        assert error.chunks_received == 2
        assert error.partial.choices[0].message.content == "".join(received)
        assert len(error.attempts) == 1  # even restart_on_interrupt cannot beat the deadline
        assert stream.restarts == 0
        assert retries(client) == {}
        assert emulator.stats.faults == {"stall": 1}


# -- damaged stream bodies ----------------------------------------------------------------------
async def test_malformed_chunk_interrupts_with_partial(
    client: AsyncVertexChat, emulator: Emulator
) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=10, stream=True,
        extra_headers=always("malformed-chunk:after=2"),
    )
    received: list[str] = []
    with pytest.raises(StreamInterruptedError, match="not valid JSON") as info:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    error = info.value
    assert error.chunks_received == 2
    assert error.partial.choices[0].message.content == "".join(received)
    assert len(received) == 2 and "".join(received)
    assert len(error.attempts) == 1
    assert retries(client) == {}
    assert emulator.stats.faults == {"malformed-chunk": 1}
    assert client.connections_in_use == 0


async def test_error_in_stream_after_chunks_is_typed_with_partial(
    client: AsyncVertexChat, emulator: Emulator
) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=10, stream=True,
        extra_headers=always("error-in-stream:after=2:code=503"),
    )
    received: list[str] = []
    with pytest.raises(InternalServerError) as info:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    error = info.value
    assert error.status_code == 503
    assert error.google_status == "UNAVAILABLE"
    assert error.message.startswith("the stream failed with HTTP 503")
    assert error.partial is not None
    assert error.partial.choices[0].message.content == "".join(received)
    assert len(received) == 2 and "".join(received)
    assert len(error.attempts) == 1
    assert retries(client) == {}
    assert client.stats.failures == 1
    assert emulator.stats.faults == {"error-in-stream": 1}
    assert emulator.stats.by_status == {200: 1}
    assert client.connections_in_use == 0


async def test_error_in_stream_before_chunks_is_retried(
    client: AsyncVertexChat, emulator: Emulator
) -> None:
    expected = await reference_text(client, 5)
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=5, stream=True,
        extra_headers=once("ev0", "error-in-stream:after=0:code=503"),
    )
    pieces = await drain(stream)
    assert "".join(pieces) == expected
    assert stream.restarts == 1
    assert retries(client) == {"503": 1}
    assert emulator.stats.faults == {"error-in-stream": 1}
    assert client.connections_in_use == 0


async def test_truncated_stream_interrupts_with_partial(
    client: AsyncVertexChat, emulator: Emulator
) -> None:
    expected = await reference_text(client, 10)
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=10, stream=True,
        extra_headers=always("truncate:after=3"),
    )
    received: list[str] = []
    with pytest.raises(StreamInterruptedError, match="ended before a finish reason") as info:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    error = info.value
    assert error.cause is None
    assert error.chunks_received == 3
    text = error.partial.choices[0].message.content
    assert text == "".join(received) and expected.startswith(text)
    assert len(error.attempts) == 1
    assert retries(client) == {}
    assert emulator.stats.faults == {"truncate": 1}
    assert client.connections_in_use == 0


async def test_trickled_stream_completes(client: AsyncVertexChat, emulator: Emulator) -> None:
    expected = await reference_text(client, 20)
    stream = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=20, stream=True,
        stream_options={"include_usage": True},
        extra_headers=always("trickle:bytes=3"),
    )
    pieces = await drain(stream)
    assert stream.finished
    assert "".join(pieces) == expected
    assert stream.completion.choices[0].finish_reason == "length"
    assert stream.usage is not None and stream.usage.completion_tokens == 20
    assert retries(client) == {}
    assert emulator.stats.faults == {"trickle": 1}
    assert client.connections_in_use == 0


async def test_every_fault_header_is_counted_by_the_emulator(
    client: AsyncVertexChat, emulator: Emulator
) -> None:
    headers: Mapping[str, str] = once("k", "500", times=3)
    completion = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=2, extra_headers=headers
    )
    assert completion.choices[0].message.content
    assert retries(client) == {"500": 3}
    assert emulator.stats.faults == {"500": 3}
    assert emulator.stats.by_status == {500: 3, 200: 1}
    # The key is spent: the same header again goes straight through.
    await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=2, extra_headers=headers
    )
    assert emulator.stats.faults == {"500": 3}
    assert client.stats.attempts == 5
    assert client.connections_in_use == 0

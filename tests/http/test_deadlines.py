"""Every timeout bounds what it says it bounds: hostile servers and stalled waits on 127.0.0.1.

- `first_byte` runs on to the end of a non-streamed body: headers then a stalled body fail.
- `total` starts at `create()` and covers the waits before sending (a concurrency slot, the
  rate limit, an access token from a callable or from Google), every attempt, backoff and the
  whole stream; the error's `.stage` names the wait that ran out.
- The defaults are finite, and `aiovertexchat batch` always gives an item a finite deadline.

Limits here are a fraction of a second; nothing asserts on elapsed time: an unbounded wait
would show up as a hang (each test is bounded by `bounded()`), a wrong bound as a wrong kind or
stage.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from aiovertexchat import (
    APITimeoutError,
    AsyncVertexChat,
    GoogleAuth,
    InternalServerError,
    RateLimit,
    RetryPolicy,
    StreamTimeoutError,
    Timeouts,
)
from aiovertexchat.cli import main
from aiovertexchat.emulator import Emulator, EmulatorConfig

from .hostile import (
    HostileServer,
    ThreadedServer,
    chunk,
    completion,
    headers_then_stall,
    json_reply,
    no_headers,
    sse_stall_after,
)

MODEL = "some-model"
HELLO = [{"role": "user", "content": "hello"}]
ONCE = RetryPolicy.never()
FAST = RetryPolicy(base=0.001, cap=0.01)
T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], seconds: float = 30.0) -> T:
    """A hang detector, not a speed check: fail the test instead of hanging it."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        pytest.fail(f"still waiting after {seconds} s: a limit did not bound the call")
    return task.result()


def client_for(url: str, **options: Any) -> AsyncVertexChat:
    options.setdefault("api_key", "k")
    options.setdefault("retry", ONCE)
    return AsyncVertexChat(base_url=url, **options)


# -- first_byte: the whole non-streamed answer ----------------------------------------------------
async def test_headers_then_a_stalled_body_fail_at_first_byte() -> None:
    async with HostileServer(headers_then_stall()) as server, client_for(
        server.base_url, timeout=Timeouts(first_byte=0.2, total=None)
    ) as client:
        with pytest.raises(APITimeoutError) as info:
            await bounded(client.chat.completions.create(model=MODEL, messages=HELLO))
        assert client.connections_in_use == 0
    error = info.value
    assert (error.kind, error.stage) == ("first_byte", "body")
    assert "first_byte" in str(error)
    assert server.requests == 1


async def test_a_stalled_body_is_retried_like_a_stalled_answer() -> None:
    policy = RetryPolicy(max_attempts=3, base=0.001, cap=0.001, budget_ratio=None)
    async with HostileServer(headers_then_stall()) as server, client_for(
        server.base_url, retry=policy, timeout=Timeouts(first_byte=0.1, total=None)
    ) as client:
        with pytest.raises(APITimeoutError) as info:
            await bounded(client.chat.completions.create(model=MODEL, messages=HELLO))
        assert client.stats.retries == {"first_byte": 2}
        assert client.connections_in_use == 0
    assert server.requests == 3
    assert len(info.value.attempts) == 3


async def test_an_error_body_that_never_comes_is_bounded_too() -> None:
    async with HostileServer(headers_then_stall(status=503, first=b"")) as server, client_for(
        server.base_url, timeout=Timeouts(first_byte=0.2, total=None)
    ) as client:
        with pytest.raises(APITimeoutError) as info:
            await bounded(client.chat.completions.create(model=MODEL, messages=HELLO))
        assert client.connections_in_use == 0
    assert (info.value.kind, info.value.stage) == ("first_byte", "body")


async def test_first_byte_alone_still_stops_a_stream_that_sends_no_headers() -> None:
    async with HostileServer(no_headers()) as server, client_for(
        server.base_url, timeout=Timeouts(first_byte=0.2, total=None)
    ) as client:
        with pytest.raises(APITimeoutError) as info:
            await bounded(
                client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
            )
    assert (info.value.kind, info.value.stage) == ("first_byte", "response")


# -- total: from create() to the end, every wait included -----------------------------------------
async def test_total_covers_the_wait_for_a_concurrency_slot() -> None:
    async with HostileServer(sse_stall_after(chunk("Hi"))) as server, client_for(
        server.base_url, max_concurrency=1, timeout=Timeouts(idle=None, total=None)
    ) as client:
        holder = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        with pytest.raises(APITimeoutError) as info:
            await bounded(
                client.chat.completions.create(model=MODEL, messages=HELLO, timeout=0.2)
            )
        assert client.stats.queued == 0  # the waiter left the queue
        await holder.aclose()
        assert client.stats.in_flight == 0 and client.connections_in_use == 0
    error = info.value
    assert (error.kind, error.stage) == ("total", "queue")
    assert "concurrency slot" in str(error)
    assert server.requests == 1  # the timed-out call was never sent


async def test_a_rate_limit_wait_past_the_deadline_fails_at_once() -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    async with HostileServer(json_reply(json.dumps(completion()).encode())) as server:
        client = client_for(server.base_url, rate_limit=RateLimit(rpm=1))
        async with client:
            limiter = client._dispatcher.rate_limiter
            assert limiter is not None
            limiter._sleep = record  # would the call wait? it must not even begin to
            await client.chat.completions.create(model=MODEL, messages=HELLO)
            with pytest.raises(APITimeoutError) as info:
                await bounded(
                    client.chat.completions.create(model=MODEL, messages=HELLO, timeout=5)
                )
            assert client.stats.waiting_for_rate == 0
    assert slept == []  # a 60 s wait against a 5 s deadline was refused, not begun
    assert (info.value.kind, info.value.stage) == ("total", "rate_limit")
    assert server.requests == 1


async def test_a_rate_limit_wait_within_the_deadline_is_waited() -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)
        limiter._clock = lambda: now + seconds  # the wait passes at once

    async with HostileServer(json_reply(json.dumps(completion()).encode())) as server:
        client = client_for(server.base_url, rate_limit=RateLimit(rpm=60))
        async with client:
            limiter = client._dispatcher.rate_limiter
            assert limiter is not None
            now = time.monotonic()
            limiter._clock = lambda: now
            limiter._sleep = record
            await client.chat.completions.create(model=MODEL, messages=HELLO)
            await client.chat.completions.create(model=MODEL, messages=HELLO, timeout=5)
    assert slept == [pytest.approx(1.0)]
    assert server.requests == 2


async def test_total_covers_a_token_callable_that_hangs() -> None:
    never = asyncio.Event()

    async def token() -> str:
        await never.wait()
        return "never"

    async with HostileServer(json_reply(json.dumps(completion()).encode())) as server, (
        AsyncVertexChat(base_url=server.base_url, token=token, retry=ONCE)
    ) as client:
        with pytest.raises(APITimeoutError) as info:
            await bounded(
                client.chat.completions.create(model=MODEL, messages=HELLO, timeout=0.2)
            )
        assert client.stats.in_flight == 0
    assert (info.value.kind, info.value.stage) == ("total", "token")
    assert "access token" in str(info.value)
    assert server.requests == 0


def _service_account(token_uri: str) -> Any:
    """Real google-auth service-account credentials whose token endpoint is `token_uri`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return service_account.Credentials.from_service_account_info({
        "type": "service_account", "project_id": "p", "private_key_id": "k1",
        "private_key": pem, "client_email": "t@p.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": token_uri,
    })


async def test_total_covers_a_google_token_endpoint_that_stalls() -> None:
    # The token endpoint takes the grant and never answers; GoogleAuth's own refresh_timeout
    # (60 s here) would be far too late: the call's 0.2 s deadline cuts the wait.
    grant_arrived = asyncio.Event()

    async def take_grant_and_stall(request: web.Request, server: HostileServer) -> web.Response:
        grant_arrived.set()
        await server.release.wait()
        return web.Response(status=500)

    async with HostileServer(take_grant_and_stall) as token_server, HostileServer(
        json_reply(json.dumps(completion()).encode())
    ) as server:
        token_uri = token_server.base_url.removesuffix("/v1") + "/token"
        auth = GoogleAuth(_service_account(token_uri), refresh_timeout=60)
        async with AsyncVertexChat(base_url=server.base_url, auth=auth, retry=ONCE) as client:
            await bounded(grant_arrived.wait())  # the prefetch is stuck at the endpoint
            with pytest.raises(APITimeoutError) as info:
                await bounded(
                    client.chat.completions.create(model=MODEL, messages=HELLO, timeout=0.2)
                )
    assert (info.value.kind, info.value.stage) == ("total", "token")
    assert "access token" in str(info.value)
    assert token_server.requests == 1 and server.requests == 0


async def test_total_covers_the_headers_of_every_attempt() -> None:
    async with HostileServer(no_headers()) as server, client_for(
        server.base_url, retry=FAST, timeout=Timeouts(first_byte=None, total=0.3)
    ) as client:
        with pytest.raises(APITimeoutError) as info:
            await bounded(client.chat.completions.create(model=MODEL, messages=HELLO))
        assert client.connections_in_use == 0
    assert (info.value.kind, info.value.stage) == ("total", "response")
    assert len(info.value.attempts) == 1


async def test_total_covers_a_stalled_body_when_first_byte_is_off() -> None:
    async with HostileServer(headers_then_stall()) as server, client_for(
        server.base_url, timeout=Timeouts(first_byte=None, total=0.3)
    ) as client:
        with pytest.raises(APITimeoutError) as info:
            await bounded(client.chat.completions.create(model=MODEL, messages=HELLO))
        assert client.connections_in_use == 0
    assert (info.value.kind, info.value.stage) == ("total", "body")


async def test_total_covers_a_stream_that_stalls_with_idle_off() -> None:
    async with HostileServer(sse_stall_after(chunk("Hel"), chunk("lo"))) as server, client_for(
        server.base_url, timeout=Timeouts(idle=None, total=0.3)
    ) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        received: list[str] = []

        async def read() -> None:
            async for piece in stream:
                received.append(piece.choices[0].delta.content or "")

        with pytest.raises(StreamTimeoutError) as info:
            await bounded(read())
        assert client.stats.in_flight == 0 and client.connections_in_use == 0
    error = info.value
    assert (error.kind, error.stage) == ("total", "stream")
    assert received == ["Hel", "lo"]
    assert error.partial.choices[0].message.content == "Hello"


async def test_a_backoff_past_the_deadline_is_not_slept() -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    busy = json_reply(b'{"error": {"code": 503, "status": "UNAVAILABLE"}}', status=503,
                      headers={"Retry-After": "30"})
    async with HostileServer(busy) as server, client_for(
        server.base_url, retry=RetryPolicy(max_attempts=4), timeout=5
    ) as client:
        client._dispatcher._sleep = record
        with pytest.raises(InternalServerError) as info:
            await bounded(client.chat.completions.create(model=MODEL, messages=HELLO))
    assert slept == []  # a 30 s Retry-After against a 5 s deadline: raised at once
    assert server.requests == 1
    assert info.value.status_code == 503 and len(info.value.attempts) == 1


async def test_the_deadline_counts_from_create_not_from_sending() -> None:
    # A call that waited its whole deadline for a slot is not then given a fresh one to send.
    gate_open = asyncio.Event()
    arrived = asyncio.Event()

    async def slow_then_answer(request: web.Request, server: HostileServer) -> web.Response:
        arrived.set()
        await gate_open.wait()
        return web.json_response(completion())

    async with HostileServer(slow_then_answer) as server, client_for(
        server.base_url, max_concurrency=1
    ) as client:
        first = asyncio.ensure_future(client.chat.completions.create(model=MODEL, messages=HELLO))
        await bounded(arrived.wait())  # the first call holds the only slot
        second = asyncio.ensure_future(
            client.chat.completions.create(model=MODEL, messages=HELLO, timeout=0.2)
        )
        with pytest.raises(APITimeoutError) as info:
            await bounded(second)
        gate_open.set()
        await bounded(first)
    assert info.value.stage == "queue"
    assert server.requests == 1


# -- defaults -------------------------------------------------------------------------------------
def test_the_defaults_are_finite() -> None:
    defaults = Timeouts()
    assert (defaults.connect, defaults.first_byte, defaults.idle, defaults.total) == (
        10.0, 600.0, 120.0, 900.0
    )
    # A 10-minute reasoning stream fits the default deadline, with room to queue and retry.
    assert defaults.total is not None and defaults.total > 600
    assert Timeouts(first_byte=2).total == 900.0
    client = AsyncVertexChat(base_url="http://127.0.0.1:9/v1", api_key="k")
    assert client.timeouts.total == 900.0
    assert AsyncVertexChat(base_url="http://127.0.0.1:9/v1", api_key="k", timeout=30).timeouts == (
        Timeouts(total=30.0)
    )


async def test_a_call_given_no_timeout_ends_on_a_stalled_body() -> None:
    # Scaled down: the defaults' shape (first_byte < total, both finite) with small numbers.
    async with HostileServer(headers_then_stall()) as server, client_for(
        server.base_url, timeout=Timeouts(first_byte=0.2, total=0.4)
    ) as client:
        with pytest.raises(APITimeoutError):
            await bounded(client.chat.completions.create(model=MODEL, messages=HELLO))


# -- the batch CLI --------------------------------------------------------------------------------
def test_batch_ends_when_one_item_stalls_after_its_headers(tmp_path: Path) -> None:
    async def one_stalls(request: web.Request, server: HostileServer) -> web.StreamResponse:
        body = await request.json()
        if "stall" in body["messages"][0]["content"]:
            return await headers_then_stall()(request, server)
        return web.json_response(completion())

    source = tmp_path / "in.jsonl"
    lines = [
        {"custom_id": f"item-{i}", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": MODEL, "messages": [{"role": "user",
                                                "content": "stall" if i == 7 else f"q{i}"}]}}
        for i in range(20)
    ]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out.jsonl"
    result: list[int] = []
    with ThreadedServer(one_stalls) as server:
        args = [str(source), "-o", str(out), "--base-url", server.base_url, "--timeout", "200ms",
                "--max-attempts", "2", "-q"]
        runner = threading.Thread(target=lambda: result.append(main(["batch", *args])))
        runner.start()
        runner.join(60)  # a hang detector: the job must end by itself
        assert not runner.is_alive(), "the batch job did not finish: an item never ended"
    assert result == [3]  # EXIT_SOME_FAILED
    done = [json.loads(line)["custom_id"] for line in out.read_text().splitlines()]
    assert len(done) == 19 and "item-7" not in done
    errors = [json.loads(line) for line in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert [e["custom_id"] for e in errors] == ["item-7"]
    assert errors[0]["error"]["code"] == "timeout"


# -- the emulator agrees --------------------------------------------------------------------------
@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig()) as emu:
        yield emu


async def test_a_deadline_long_enough_lets_the_call_through(emulator: Emulator) -> None:
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k", timeout=30) as client:
        completion_ = await client.chat.completions.create(
            model="google/gemini-2.5-flash", messages=HELLO, max_tokens=3
        )
        stream = await client.chat.completions.create(
            model="google/gemini-2.5-flash", messages=HELLO, max_tokens=3, stream=True
        )
        async with stream:
            async for _ in stream:
                pass
    assert completion_.choices[0].message.content
    assert stream.finished


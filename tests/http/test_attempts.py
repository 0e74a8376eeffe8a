"""The attempt loop (`Dispatcher`), through the client against the emulator: the gate each
attempt passes (concurrency slot, rate-limit token), the status check that turns an answer into
a typed error, giving up (attempt history, retry budget, total deadline), cancellation at every
await point, and the adaptive limit it feeds.

Every fault's full outcome (attempts, partials, counts) is the table in
tests/integration/test_fault_outcomes.py.

Cancellation tests wait until the call is parked where they want it (by polling the client's
and the emulator's counters, never by timing), cancel it, and check nothing is left behind:
no connection, no concurrency slot, no queued waiter, no rate-limit waiter, no task.
"""

from __future__ import annotations

import asyncio

import pytest

from aiovertexchat import (
    APIConnectionError,
    APITimeoutError,
    AsyncVertexChat,
    BadRequestError,
    InternalServerError,
    RateLimitError,
)
from aiovertexchat._reliability.ratelimit import RateLimit
from aiovertexchat._reliability.retry import RetryPolicy
from aiovertexchat._reliability.timeouts import Timeouts
from aiovertexchat.emulator import Emulator, EmulatorConfig
from tests.helpers import (
    HELLO,
    MODEL,
    assert_nothing_held,
    cancel,
    chat,
    fault,
    fault_once,
    other_tasks,
    until,
)

# -- the gate: a concurrency slot, then a rate-limit token, per attempt ---------------------------


async def test_client_never_exceeds_max_concurrency(emulator: Emulator) -> None:
    emulator.config.ttft = 0.05
    emulator.config.max_concurrency = 3  # a 4th request in flight would get a 429
    async with AsyncVertexChat(
        base_url=emulator.base_url, api_key="k", max_concurrency=3
    ) as client:
        peak_client = 0
        peak_queued = 0

        async def watch() -> None:
            nonlocal peak_client, peak_queued
            while True:
                stats = client.stats
                peak_client = max(peak_client, stats.in_flight)
                peak_queued = max(peak_queued, stats.queued)
                await asyncio.sleep(0.002)

        watcher = asyncio.create_task(watch())
        try:
            results = await asyncio.gather(
                *(
                    client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)
                    for _ in range(12)
                )
            )
        finally:
            watcher.cancel()
        assert len(results) == 12
        stats = client.stats
        assert stats.in_flight == 0 and stats.queued == 0
        assert stats.requests == 12 and stats.attempts == 12
        assert stats.failures == 0 and stats.total_retries == 0
        assert stats.concurrency_limit == 3 and stats.limit_cuts == 0
        assert client.connections_in_use == 0
    assert peak_client == 3
    assert peak_queued >= 1
    assert emulator.stats.peak_concurrency == 3
    assert emulator.stats.rejected_capacity == 0
    assert emulator.stats.by_status[200] == 12
    assert emulator.stats.concurrency == 0


async def test_client_rate_limit_queues_requests_beyond_the_burst(emulator: Emulator) -> None:
    n = 6
    # 20 requests/s, a bucket of one: the first goes at once, the other five queue.
    limit = RateLimit(rpm=1200, burst=0.05)
    async with AsyncVertexChat(
        base_url=emulator.base_url, api_key="k", rate_limit=limit
    ) as client:
        peak_waiting = 0

        async def watch() -> None:
            nonlocal peak_waiting
            while True:
                peak_waiting = max(peak_waiting, client.stats.waiting_for_rate)
                await asyncio.sleep(0.002)

        watcher = asyncio.create_task(watch())
        try:
            await asyncio.gather(
                *(
                    client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=1)
                    for _ in range(n)
                )
            )
        finally:
            watcher.cancel()
        stats = client.stats
        assert stats.waiting_for_rate == 0 and stats.in_flight == 0
        assert stats.requests == n and stats.attempts == n
    assert peak_waiting == n - 1
    assert emulator.stats.by_status[200] == n


async def test_client_token_counters_sum_the_usage(emulator: Emulator) -> None:
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k") as client:
        completions = await asyncio.gather(
            *(
                client.chat.completions.create(
                    model=MODEL,
                    messages=[{"role": "user", "content": "word " * n}],
                    max_tokens=m,
                )
                for n, m in ((1, 3), (4, 5), (9, 7), (2, 1))
            )
        )
        usages = [c.usage for c in completions]
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=4, stream=True,
            stream_options={"include_usage": True},
        )
        async with stream:
            async for _ in stream:
                pass
        usages.append(stream.usage)
        assert all(u is not None for u in usages)
        stats = client.stats
        assert stats.prompt_tokens == sum(u.prompt_tokens for u in usages if u)
        assert stats.completion_tokens == sum(u.completion_tokens for u in usages if u)
        assert stats.total_tokens == sum(u.total_tokens for u in usages if u)
        assert stats.completion_tokens == 3 + 5 + 7 + 1 + 4
        assert stats.total_tokens == stats.prompt_tokens + stats.completion_tokens
        assert stats.requests == 5 and stats.in_flight == 0


# -- the status check: an answer above 2xx, or none, becomes a typed error ---------------------


@pytest.mark.parametrize(
    ("spec", "cls", "status", "google_status"),
    [
        ("429", RateLimitError, 429, "RESOURCE_EXHAUSTED"),
        ("list-error:code=429", RateLimitError, 429, "RESOURCE_EXHAUSTED"),
        ("html-error:code=502", InternalServerError, 502, None),
        ("text-error:code=503", InternalServerError, 503, None),
        ("empty-error:code=500", InternalServerError, 500, None),
    ],
)
async def test_error_statuses_are_typed(
    client: AsyncVertexChat, spec: str, cls: type, status: int, google_status: str | None
) -> None:
    for stream in (False, True):
        with pytest.raises(cls) as info:
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, stream=stream, extra_headers=fault(spec)
            )
        assert info.value.status_code == status
        assert info.value.google_status == google_status
        assert f"HTTP {status}" in str(info.value)
        assert len(str(info.value)) < 600


async def test_bad_request_from_server(emulator: Emulator) -> None:
    base = f"{emulator.url}/v1/projects/p/locations/us-central1/endpoints/openapi"
    async with AsyncVertexChat(base_url=base, api_key="k") as client:
        with pytest.raises(BadRequestError, match="google/") as info:
            # extra_body overrides the checked `model` field, so the server sees a bare name.
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, extra_body={"model": "bare"}
            )
        assert info.value.google_status == "INVALID_ARGUMENT"


async def test_connection_reset_before_headers(client: AsyncVertexChat) -> None:
    with pytest.raises(APIConnectionError):
        await client.chat.completions.create(
            model=MODEL, messages=HELLO, extra_headers=fault("reset-before-headers")
        )


async def test_timeout_fires_on_stall(emulator: Emulator) -> None:
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k", timeout=0.2) as client:
        with pytest.raises(APITimeoutError):
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, extra_headers=fault("stall:seconds=30")
            )
        assert client.connections_in_use == 0


# -- giving up: the retry budget and the total deadline end retries early ----------------------
async def test_an_empty_retry_budget_ends_the_retries(emulator: Emulator) -> None:
    # A budget of one retry and no success to earn more: the second retry is refused.
    policy = RetryPolicy(base=0.001, cap=0.01, budget_burst=1)
    async with chat(emulator, retry=policy) as client:
        with pytest.raises(InternalServerError) as info:
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, extra_headers=fault("500")
            )
        attempts = info.value.attempts
        assert len(attempts) == 2
        assert attempts[0].startswith("500 INTERNAL")
        assert attempts[1].startswith("500 INTERNAL")
        assert attempts[1].endswith("[retry budget exhausted: the backend keeps failing; retries "
                                    "resume as requests succeed]")
        stats = client.stats
        assert (stats.budget_denied, stats.failures, stats.retries) == (1, 1, {"500": 1})
        assert emulator.stats.by_status == {500: 2}


async def test_a_backoff_past_the_total_deadline_is_not_waited(emulator: Emulator) -> None:
    # The first attempt is reset (retried at once); the second gets a 503 asking for 30 s,
    # which the policy would obey but the 5 s deadline cannot hold: the call ends there.
    policy = RetryPolicy(base=0.001, cap=0.01, max_retry_after=60)
    headers = {**fault("503:retry-after=30"), **fault_once("d", "reset-before-headers")}
    async with chat(emulator, retry=policy, timeout=Timeouts(total=5.0)) as client:
        with pytest.raises(InternalServerError) as info:
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, extra_headers=headers
            )
        attempts = info.value.attempts
        assert len(attempts) == 2
        assert attempts[0].startswith("APIConnectionError: ")
        assert attempts[1].startswith("503 UNAVAILABLE")
        assert attempts[1].endswith("[the total deadline (5 s) leaves no time for a retry]")
        assert client.stats.retries == {"connection": 1}
        assert client.stats.failures == 1
        assert emulator.stats.by_status == {503: 1}


# -- cancellation at every await point ---------------------------------------------------------


async def test_cancel_while_waiting_for_a_slot(held_emulator: Emulator) -> None:
    async with AsyncVertexChat(
        base_url=held_emulator.base_url, api_key="k", max_concurrency=1
    ) as client:
        holder = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=5, stream=True
        )
        tasks_before = other_tasks()
        waiting = asyncio.ensure_future(
            client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=5)
        )
        await until(lambda: client.stats.queued == 1)
        await cancel(waiting)
        assert client.stats.queued == 0 and client.stats.in_flight == 1
        await holder.aclose()
        assert_nothing_held(client)
        assert other_tasks() <= tasks_before
        # The slot is usable again.
        held_emulator.config.itl = 0.0
        done = await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=3)
        assert done.choices[0].finish_reason == "length"
        assert_nothing_held(client)


async def test_cancel_while_waiting_for_a_rate_token(emulator: Emulator) -> None:
    # One request per minute, a bucket of one: the second call waits ~60 s for its token.
    async with AsyncVertexChat(
        base_url=emulator.base_url, api_key="k", rate_limit=RateLimit(rpm=1)
    ) as client:
        await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=3)
        waiting = asyncio.ensure_future(
            client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=3)
        )
        await until(lambda: client.stats.waiting_for_rate == 1)
        assert client.stats.in_flight == 1  # it holds its slot while it waits for the rate
        await cancel(waiting)
        assert_nothing_held(client)
        assert emulator.stats.requests == 1


async def test_cancel_while_waiting_for_headers(emulator: Emulator) -> None:
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k") as client:
        waiting = asyncio.ensure_future(
            client.chat.completions.create(
                model=MODEL, messages=HELLO, max_tokens=3,
                extra_headers=fault("stall:seconds=30"),
            )
        )
        await until(lambda: emulator.stats.faults["stall"] == 1)
        assert client.connections_in_use == 1 and client.stats.in_flight == 1
        await cancel(waiting)
        assert_nothing_held(client)
        assert client.stats.retries == {} and client.stats.failures == 0


async def test_cancel_during_backoff(emulator: Emulator) -> None:
    # The server asks for 30 s; the policy obeys up to 60 s, so the call sits in its backoff.
    async with AsyncVertexChat(
        base_url=emulator.base_url, api_key="k", retry=RetryPolicy(max_retry_after=60)
    ) as client:
        waiting = asyncio.ensure_future(
            client.chat.completions.create(
                model=MODEL, messages=HELLO, max_tokens=3,
                extra_headers=fault("503:retry-after=30"),
            )
        )
        await until(lambda: client.stats.retries.get("503") == 1)
        assert_nothing_held(client)  # backing off holds no slot and no connection
        await cancel(waiting)
        assert_nothing_held(client)
        assert emulator.stats.by_status[503] == 1


async def test_cancel_during_stream_restart_backoff(emulator: Emulator) -> None:
    policy = RetryPolicy(restart_on_interrupt=True, max_retry_after=60)
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k", retry=policy) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, max_tokens=10, stream=True,
            extra_headers=fault("error-in-stream:after=2:code=503"),
        )

        async def consume() -> None:
            async for _ in stream:
                pass

        task = asyncio.ensure_future(consume())
        await until(lambda: client.stats.retries.get("503") == 1)
        await cancel(task)
        assert_nothing_held(client)


# -- the adaptive limit, fed by the loop's 429s and successes ---------------------------------


async def test_adaptive_limit_converges_on_a_small_shared_pool() -> None:
    """2,000 requests at a requested concurrency of 128 against a pool that takes 8: all
    succeed, and once the limit has settled 429s are a small share of attempts."""
    capacity, total = 8, 2000
    config = EmulatorConfig(ttft=0.004, itl=0.0, max_concurrency=capacity)
    async with Emulator(config) as emu, AsyncVertexChat(
        base_url=emu.base_url, api_key="k", max_concurrency=128,
        retry=RetryPolicy(max_attempts=8, base=0.05, cap=1.0),
    ) as client:
        done = 0
        checkpoint: dict[str, int] = {}

        async def one(i: int) -> None:
            nonlocal done
            answer = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": f"q{i}"}], max_tokens=2
            )
            assert answer.choices[0].message.content
            done += 1
            if done == total // 2:
                checkpoint.update(
                    rejected=emu.stats.rejected_capacity, requests=emu.stats.requests
                )

        await asyncio.gather(*(one(i) for i in range(total)))
        stats = client.stats
        assert stats.failures == 0 and stats.requests == total
        assert emu.stats.by_status[200] == total
        assert emu.stats.peak_concurrency <= capacity
        # Every 429 the pool sent was seen and retried.
        assert stats.rate_limited == emu.stats.rejected_capacity == stats.retries["429"]
        second_half_attempts = emu.stats.requests - checkpoint["requests"]
        second_half_429s = emu.stats.rejected_capacity - checkpoint["rejected"]
        assert second_half_429s <= 0.05 * second_half_attempts
        assert stats.limit_cuts >= 3  # 128 -> ... -> near 8 takes several halvings
        assert stats.concurrency_limit is not None and stats.concurrency_limit <= 4 * capacity
        assert_nothing_held(client)

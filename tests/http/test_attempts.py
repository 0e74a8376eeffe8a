"""Cancellation at every await point of a call, and convergence of the adaptive limit.

Cancellation tests wait until the call is parked where they want it (by polling the client's
and the emulator's counters, never by timing), cancel it, and check nothing is left behind:
no connection, no concurrency slot, no queued waiter, no rate-limit waiter, no task.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from aiovertexchat import AsyncVertexChat
from aiovertexchat._reliability.ratelimit import RateLimit
from aiovertexchat._reliability.retry import RetryPolicy
from aiovertexchat.emulator import Emulator, EmulatorConfig
from tests.helpers import HELLO, MODEL, assert_nothing_held, cancel, fault, other_tasks, until


@pytest.fixture
async def slow_emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(ttft=0.0, itl=30.0)) as emu:
        yield emu


async def test_cancel_while_waiting_for_a_slot(slow_emulator: Emulator) -> None:
    async with AsyncVertexChat(
        base_url=slow_emulator.base_url, api_key="k", max_concurrency=1
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
        slow_emulator.config.itl = 0.0
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


async def test_cancel_mid_stream(slow_emulator: Emulator) -> None:
    async with AsyncVertexChat(base_url=slow_emulator.base_url, api_key="k") as client:
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

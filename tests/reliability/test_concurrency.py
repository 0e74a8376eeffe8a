"""The client's limits: `ConcurrencyLimiter` and `RateLimiter` as units (a fake clock, no
network), then through the client against the emulator.

Nothing here asserts on wall-clock time: the units read a fake clock, the client tests count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from aiovertexchat import AsyncVertexChat
from aiovertexchat._reliability.concurrency import ConcurrencyLimiter, Slot
from aiovertexchat._reliability.ratelimit import RateLimit, RateLimiter
from aiovertexchat.emulator import Emulator
from tests.helpers import HELLO, MODEL, FakeClock, settle, within

# -- ConcurrencyLimiter ---------------------------------------------------------------------------


async def test_admits_up_to_the_ceiling_then_queues() -> None:
    limiter = ConcurrencyLimiter(3)
    slots = [await limiter.acquire() for _ in range(3)]
    assert limiter.in_flight == 3 and limiter.queued == 0
    fourth = asyncio.create_task(limiter.acquire())
    await settle()
    assert not fourth.done()
    assert limiter.queued == 1 and limiter.in_flight == 3
    limiter.release(slots[0])
    slot = await within(fourth)
    assert limiter.in_flight == 3 and limiter.queued == 0
    for s in [*slots[1:], slot]:
        limiter.release(s)
    assert limiter.in_flight == 0


async def test_waiters_are_served_in_arrival_order() -> None:
    limiter = ConcurrencyLimiter(1)
    held = await limiter.acquire()
    order: list[int] = []

    async def worker(i: int) -> None:
        slot = await limiter.acquire()
        order.append(i)
        await asyncio.sleep(0)
        limiter.release(slot)

    tasks = []
    for i in range(6):
        tasks.append(asyncio.create_task(worker(i)))
        await asyncio.sleep(0)  # each one queues before the next is created
    assert limiter.queued == 6
    limiter.release(held)
    await within(asyncio.gather(*tasks))
    assert order == list(range(6))
    assert limiter.in_flight == 0 and limiter.queued == 0


async def test_a_newcomer_does_not_overtake_queued_waiters() -> None:
    limiter = ConcurrencyLimiter(2)
    a, b = await limiter.acquire(), await limiter.acquire()
    order: list[str] = []

    async def worker(name: str) -> None:
        slot = await limiter.acquire()
        order.append(name)
        limiter.release(slot)

    first = asyncio.create_task(worker("first"))
    await settle()
    limiter.release(a)  # granted to "first", which has not run yet
    late = asyncio.create_task(worker("late"))
    await within(asyncio.gather(first, late))
    assert order == ["first", "late"]
    limiter.release(b)
    assert limiter.in_flight == 0


async def test_release_is_idempotent() -> None:
    limiter = ConcurrencyLimiter(1)
    slot = await limiter.acquire()
    first = asyncio.create_task(limiter.acquire())
    second = asyncio.create_task(limiter.acquire())
    await settle()
    limiter.release(slot)
    limiter.release(slot)  # must not free a second slot
    assert slot.released
    granted = await within(first)
    await settle()
    assert not second.done()
    assert limiter.in_flight == 1 and limiter.queued == 1
    limiter.release(granted)
    last = await within(second)
    limiter.release(last)
    limiter.release(last)
    assert limiter.in_flight == 0


async def test_cancelling_a_queued_waiter_removes_it() -> None:
    limiter = ConcurrencyLimiter(1)
    held = await limiter.acquire()
    order: list[int] = []

    async def worker(i: int) -> None:
        slot = await limiter.acquire()
        order.append(i)
        limiter.release(slot)

    tasks = [asyncio.create_task(worker(i)) for i in range(3)]
    await settle()
    assert limiter.queued == 3
    tasks[1].cancel()
    with pytest.raises(asyncio.CancelledError):
        await tasks[1]
    assert limiter.queued == 2
    limiter.release(held)
    await within(asyncio.gather(tasks[0], tasks[2]))
    assert order == [0, 2]
    assert limiter.in_flight == 0 and limiter.queued == 0


async def test_cancelled_waiter_skipped_when_released_in_the_same_tick() -> None:
    # The waiter's future is cancelled but its task has not yet removed it from the queue when
    # the slot comes back: the slot must go to the next waiter.
    limiter = ConcurrencyLimiter(1)
    held = await limiter.acquire()
    first = asyncio.create_task(limiter.acquire())
    second = asyncio.create_task(limiter.acquire())
    await settle()
    first.cancel()
    limiter.release(held)
    slot = await within(second)
    with pytest.raises(asyncio.CancelledError):
        await within(first)
    assert limiter.in_flight == 1 and limiter.queued == 0
    limiter.release(slot)
    assert limiter.in_flight == 0


async def test_waiter_cancelled_as_it_is_granted_passes_the_slot_on() -> None:
    limiter = ConcurrencyLimiter(1)
    held = await limiter.acquire()
    doomed = asyncio.create_task(limiter.acquire())
    done: list[int] = []

    async def worker(i: int) -> None:
        slot = await limiter.acquire()
        await asyncio.sleep(0)
        done.append(i)
        limiter.release(slot)

    others = [asyncio.create_task(worker(i)) for i in range(3)]
    await settle()
    assert limiter.queued == 4
    limiter.release(held)  # grants `doomed` (counted in flight) ...
    assert limiter.in_flight == 1
    doomed.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await within(doomed)
    await within(asyncio.gather(*others))
    assert done == [0, 1, 2]
    assert limiter.in_flight == 0 and limiter.queued == 0


async def test_no_ceiling_is_unlimited_but_counted() -> None:
    limiter = ConcurrencyLimiter(None)
    assert limiter.limit is None and not limiter.adaptive
    slots = [await limiter.acquire() for _ in range(500)]
    assert limiter.in_flight == 500 and limiter.queued == 0
    assert limiter.on_overload(slots[0]) is False
    assert limiter.limit is None and limiter.cuts == 0
    for slot in slots:
        limiter.release(slot)
    assert limiter.in_flight == 0


async def test_overload_halves_once_per_generation_down_to_the_floor() -> None:
    limiter = ConcurrencyLimiter(8, floor=3)
    wave = [await limiter.acquire() for _ in range(4)]
    assert limiter.on_overload(wave[0]) is True
    assert limiter.limit == 4 and limiter.cuts == 1
    # The rest of the wave was admitted before the cut: its 429s say nothing new.
    for slot in wave[1:]:
        assert limiter.on_overload(slot) is False
    assert limiter.limit == 4 and limiter.cuts == 1
    for slot in wave:
        limiter.release(slot)

    late = await limiter.acquire()  # admitted after the cut
    assert late.generation == 1
    assert limiter.on_overload(late) is True
    assert limiter.limit == 3  # 4 * 0.5 = 2, held at the floor
    newest = await limiter.acquire()
    assert limiter.on_overload(newest) is True
    assert limiter.limit == 3 and limiter.cuts == 3
    limiter.release(late)
    limiter.release(newest)


async def test_overload_floor_defaults_to_one() -> None:
    limiter = ConcurrencyLimiter(5)
    for _ in range(6):
        slot = await limiter.acquire()
        limiter.on_overload(slot)
        limiter.release(slot)
    assert limiter.limit == 1


async def test_a_cut_limit_admits_nobody_until_in_flight_drops_below_it() -> None:
    limiter = ConcurrencyLimiter(4)
    slots = [await limiter.acquire() for _ in range(4)]
    assert limiter.on_overload(slots[0])
    assert limiter.limit == 2
    waiter = asyncio.create_task(limiter.acquire())
    await settle()
    limiter.release(slots[0])
    limiter.release(slots[1])
    await settle()
    assert not waiter.done() and limiter.in_flight == 2
    limiter.release(slots[2])
    granted = await within(waiter)
    assert limiter.in_flight == 2
    limiter.release(slots[3])
    limiter.release(granted)
    assert limiter.in_flight == 0


async def test_success_grows_the_limit_by_one_over_limit_up_to_the_ceiling() -> None:
    limiter = ConcurrencyLimiter(16)
    slot = await limiter.acquire()
    limiter.on_overload(slot)
    limiter.release(slot)
    assert limiter.limit == 8
    limiter.on_success()
    assert limiter._limit == pytest.approx(8 + 1 / 8)
    before = limiter._limit
    limiter.on_success()
    assert limiter._limit == pytest.approx(before + 1 / before)
    assert limiter.limit == 8  # a fraction of a slot admits nobody
    for _ in range(1000):
        limiter.on_success()
    assert limiter.limit == 16 and limiter._limit == 16.0
    limiter.on_success()
    assert limiter.limit == 16


async def test_growth_slows_near_the_limit_of_the_last_cut() -> None:
    limiter = ConcurrencyLimiter(16)
    slot = await limiter.acquire()
    limiter.on_overload(slot)  # pushed back at 16
    limiter.release(slot)
    while limiter._limit < 15.0:
        limiter.on_success()
    before = limiter._limit
    limiter.on_success()
    assert limiter._limit - before == pytest.approx(1 / before / 8)


async def test_success_that_raises_the_limit_admits_a_waiter() -> None:
    limiter = ConcurrencyLimiter(8)
    held = [await limiter.acquire() for _ in range(4)]
    limiter.on_overload(held[0])
    assert limiter.limit == 4
    waiter = asyncio.create_task(limiter.acquire())
    await settle()
    assert not waiter.done()
    successes = 0
    while limiter.limit == 4:
        limiter.on_success()
        successes += 1
        await settle()
        assert waiter.done() == (limiter.limit == 5)
    assert successes == 5  # 4 + 1/4 + 1/4.25 + ... crosses 5 on the fifth
    extra = await within(waiter)
    assert limiter.in_flight == 5
    for slot in [*held, extra]:
        limiter.release(slot)
    assert limiter.in_flight == 0


async def test_non_adaptive_limiter_never_moves() -> None:
    limiter = ConcurrencyLimiter(4, adaptive=False)
    slot = await limiter.acquire()
    assert limiter.on_overload(slot) is False
    limiter.on_success()
    assert limiter.limit == 4 and limiter.cuts == 0
    limiter.release(slot)


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((0,), {}),
        ((-3,), {}),
        ((4,), {"floor": 0}),
        ((4,), {"floor": 5}),
        ((4,), {"decrease": 0.0}),
        ((4,), {"decrease": 1.0}),
        ((4,), {"decrease": 1.5}),
        ((4,), {"decrease": -0.5}),
    ],
)
def test_concurrency_limiter_validation(args: tuple[int], kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ConcurrencyLimiter(*args, **kwargs)  # type: ignore[arg-type]


def test_concurrency_limiter_valid_edges() -> None:
    assert ConcurrencyLimiter(1, floor=1).limit == 1
    assert ConcurrencyLimiter(None, floor=50).limit is None  # no ceiling to be above
    assert ConcurrencyLimiter(4, decrease=0.9).limit == 4
    assert Slot(0).released is False


# -- RateLimiter ----------------------------------------------------------------------------------


def make_limiter(clock: FakeClock, **limit: float) -> RateLimiter:
    return RateLimiter(RateLimit(**limit), clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]


def timed(clock: FakeClock, stamps: list[tuple[str, float]]) -> Callable[
    [RateLimiter, str, int], Awaitable[None]
]:
    async def go(limiter: RateLimiter, name: str, tokens: int) -> None:
        await limiter.acquire(tokens)
        stamps.append((name, clock.elapsed))

    return go


async def test_rpm_spaces_requests_one_second_apart() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, rpm=60, burst=1)
    stamps: list[tuple[str, float]] = []
    go = timed(clock, stamps)
    for i in range(4):  # one after the other
        await go(limiter, str(i), 0)
    assert [t for _, t in stamps] == [0.0, 1.0, 2.0, 3.0]


async def test_rpm_spaces_concurrent_requests_in_order() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, rpm=60, burst=1)
    stamps: list[tuple[str, float]] = []
    go = timed(clock, stamps)
    await within(asyncio.gather(*(go(limiter, str(i), 0) for i in range(5))))
    assert stamps == [(str(i), float(i)) for i in range(5)]
    assert limiter.waiting == 0


async def test_burst_lets_a_bucketful_through_at_once() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, rpm=60, burst=3)
    stamps: list[tuple[str, float]] = []
    go = timed(clock, stamps)
    await within(asyncio.gather(*(go(limiter, str(i), 0) for i in range(5))))
    assert [t for _, t in stamps] == [0.0, 0.0, 0.0, 1.0, 2.0]


async def test_oversize_request_waits_for_a_full_bucket_then_leaves_debt() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, tpm=120, burst=5)  # 2 tokens/s, 10 tokens capacity
    stamps: list[tuple[str, float]] = []
    go = timed(clock, stamps)
    await go(limiter, "small", 4)  # level 6
    await go(limiter, "huge", 30)  # waits until full (2 s), then level -20
    await go(limiter, "next", 1)  # waits out the debt: (1 + 20) / 2 = 10.5 s
    assert stamps == [("small", 0.0), ("huge", 2.0), ("next", 12.5)]


async def test_oversize_request_on_a_full_bucket_goes_at_once() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, tpm=120, burst=5)
    stamps: list[tuple[str, float]] = []
    go = timed(clock, stamps)
    await go(limiter, "huge", 1000)  # never refused, never stuck
    await go(limiter, "next", 2)  # (2 + 990) / 2
    assert stamps == [("huge", 0.0), ("next", 496.0)]


async def test_correct_refunds_an_overestimate() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, tpm=120, burst=5)
    stamps: list[tuple[str, float]] = []
    go = timed(clock, stamps)
    await go(limiter, "a", 8)  # level 2
    limiter.correct(8, 3)  # 5 back: level 7
    await go(limiter, "b", 7)  # at once
    await go(limiter, "c", 2)  # level 0: 1 s
    assert stamps == [("a", 0.0), ("b", 0.0), ("c", 1.0)]


async def test_correct_charges_an_underestimate() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, tpm=120, burst=5)
    stamps: list[tuple[str, float]] = []
    go = timed(clock, stamps)
    await go(limiter, "a", 2)  # level 8
    limiter.correct(2, 14)  # 12 more: level -4
    await go(limiter, "b", 2)  # (2 + 4) / 2 = 3 s
    assert stamps == [("a", 0.0), ("b", 3.0)]


async def test_correct_never_fills_above_capacity() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, tpm=120, burst=5)
    stamps: list[tuple[str, float]] = []
    go = timed(clock, stamps)
    await go(limiter, "a", 10)  # level 0
    limiter.correct(500, 0)  # capped at 10, not 500
    await go(limiter, "b", 10)
    await go(limiter, "c", 10)  # empty again: 5 s
    assert stamps == [("a", 0.0), ("b", 0.0), ("c", 5.0)]


async def test_correct_without_a_token_bucket_is_a_no_op() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, rpm=60)
    limiter.correct(10, 1000)
    limiter.correct(1000, 0)
    await limiter.acquire(10**9)  # tokens do not matter with rpm only
    assert clock.elapsed == 0.0


async def test_rate_waiters_are_fifo_even_when_a_later_one_needs_less() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, tpm=120, burst=5)
    stamps: list[tuple[str, float]] = []
    go = timed(clock, stamps)
    await go(limiter, "empty", 10)  # level 0
    tasks = [
        asyncio.create_task(go(limiter, "big", 8)),  # ready at 4 s
        asyncio.create_task(go(limiter, "small", 1)),  # alone it would be ready at 0.5 s
        asyncio.create_task(go(limiter, "medium", 3)),
    ]
    await settle(1)
    assert limiter.waiting == 3
    await within(asyncio.gather(*tasks))
    assert stamps == [("empty", 0.0), ("big", 4.0), ("small", 4.5), ("medium", 6.0)]
    assert limiter.waiting == 0


async def test_a_newcomer_does_not_barge_past_a_sleeping_waiter() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, tpm=120, burst=5)
    stamps: list[tuple[str, float]] = []
    go = timed(clock, stamps)
    await go(limiter, "empty", 10)
    big = asyncio.create_task(go(limiter, "big", 8))
    await asyncio.sleep(0)  # `big` sleeps; the fake clock already moved 4 s on
    # With 8 tokens in the bucket now, a newcomer could take 1 at once: it must queue.
    await go(limiter, "small", 1)
    await within(big)
    assert [name for name, _ in stamps] == ["empty", "big", "small"]


async def test_cancelled_queued_rate_waiter_takes_nothing() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, tpm=120, burst=5)
    stamps: list[tuple[str, float]] = []
    go = timed(clock, stamps)
    await go(limiter, "empty", 10)  # level 0
    head = asyncio.create_task(go(limiter, "head", 4))  # ready at 2 s
    doomed = asyncio.create_task(go(limiter, "doomed", 6))
    tail = asyncio.create_task(go(limiter, "tail", 2))
    await asyncio.sleep(0)
    assert limiter.waiting == 3
    doomed.cancel()
    await within(asyncio.gather(head, tail))
    with pytest.raises(asyncio.CancelledError):
        await within(doomed)
    # `tail` needs 2 tokens after `head` (1 s); had `doomed` spent its 6 it would be at 6 s.
    assert stamps == [("empty", 0.0), ("head", 2.0), ("tail", 3.0)]
    assert limiter.waiting == 0


async def test_cancelling_the_sleeping_rate_waiter_frees_the_queue() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, tpm=120, burst=5)
    stamps: list[tuple[str, float]] = []
    go = timed(clock, stamps)
    await go(limiter, "empty", 10)
    sleeper = asyncio.create_task(go(limiter, "sleeper", 8))  # sleeps 4 s
    after = asyncio.create_task(go(limiter, "after", 2))
    await asyncio.sleep(0)
    sleeper.cancel()  # interrupted in its sleep, before taking anything
    await within(after)
    with pytest.raises(asyncio.CancelledError):
        await within(sleeper)
    # At 4 s the bucket holds 8: `after` goes at once (had `sleeper` taken 8: 5 s).
    assert stamps == [("empty", 0.0), ("after", 4.0)]
    assert limiter.waiting == 0
    await go(limiter, "again", 6)  # 6 tokens were left: at once
    assert stamps[-1] == ("again", 4.0)


async def test_requests_and_tokens_wait_for_the_slower_bucket() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock, rpm=60, tpm=120, burst=1)  # 1 req/s; 2 tokens/s, cap 2
    stamps: list[tuple[str, float]] = []
    go = timed(clock, stamps)
    await go(limiter, "a", 2)
    await go(limiter, "b", 1)  # requests: 1 s, tokens: 0.5 s
    await go(limiter, "c", 2)  # tokens: level 1 at 1 s -> 1.5 s; requests -> 2 s
    assert stamps == [("a", 0.0), ("b", 1.0), ("c", 2.0)]


def test_estimate_is_prompt_bytes_over_four_plus_completion() -> None:
    limiter = RateLimiter(RateLimit(tpm=1000, completion_estimate=100))
    assert limiter.estimate(400, None) == 200
    assert limiter.estimate(403, None) == 200
    assert limiter.estimate(401, 7) == 107
    assert limiter.estimate(3, 0) == 0  # an explicit 0 is not "unset"
    assert RateLimiter(RateLimit(rpm=10)).estimate(0, None) == 256


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rpm": 0},
        {"rpm": -1},
        {"tpm": 0},
        {"tpm": -5.0},
        {"burst": 0},
        {"burst": -1},
        {"completion_estimate": -1},
    ],
)
def test_rate_limit_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimit(**kwargs)  # type: ignore[arg-type]


def test_rate_limit_defaults_and_frozen() -> None:
    limit = RateLimit()
    assert (limit.rpm, limit.tpm, limit.burst, limit.completion_estimate) == (None, None, 1.0, 256)
    assert RateLimit(rpm=0.5, tpm=1, burst=0.01, completion_estimate=0).rpm == 0.5
    with pytest.raises(AttributeError):
        limit.rpm = 5  # type: ignore[misc]


async def test_no_limits_never_wait() -> None:
    clock = FakeClock()
    limiter = make_limiter(clock)
    for _ in range(100):
        await limiter.acquire(10**6)
    assert clock.sleeps == [] and limiter.waiting == 0


# -- through the client, against the emulator -----------------------------------------------------


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

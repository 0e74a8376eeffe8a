"""`RateLimiter` and `RateLimit` as units: requests and tokens per minute on a fake clock.

Nothing here asserts on wall-clock time: the limiter reads the fake clock and sleeps on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from aiovertexchat._reliability.ratelimit import RateLimit, RateLimiter
from tests.helpers import FakeClock, settle, within


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

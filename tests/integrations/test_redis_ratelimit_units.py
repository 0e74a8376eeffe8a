"""`RedisRateLimit` as a unit: the GCRA script's arithmetic (on fakeredis's Lua), bookings,
refunds, hand-backs, the fallback and recovery, and the settings object itself.

fakeredis's clock (the script's `TIME`) is the test's fake clock, which the limiter's sleeps
advance: every wait is exact."""

from __future__ import annotations

import asyncio
import logging
import pickle

import pytest

fakeredis = pytest.importorskip("fakeredis")
pytest.importorskip("lupa", reason="fakeredis runs Lua scripts with lupa (the test extra)")

from redis.exceptions import ConnectionError as RedisConnectionError  # noqa: E402

from aiovertexchat import AsyncVertexChat, RateLimit, RedisRateLimit  # noqa: E402
from aiovertexchat._reliability.redis_ratelimit import RedisRateLimiter  # noqa: E402

TOLERANCE = 1e-6
_EPOCH = 1_700_000_000.0


class Clock:
    """The one clock of a test: the limiter's monotonic time and sleeps, and Redis's TIME."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def time(self) -> float:
        return _EPOCH + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def make(
    server: object, clock: Clock, **settings: object
) -> RedisRateLimiter:
    settings.setdefault("key", "test")
    limit = RedisRateLimit("redis://fake", **settings)  # type: ignore[arg-type]
    return RedisRateLimiter(
        limit,
        clock=clock,
        sleep=clock.sleep,
        connect=lambda: fakeredis.FakeAsyncRedis(server=server),
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from fakeredis.commands_mixins import server_mixin

    clock = Clock()
    monkeypatch.setattr(server_mixin, "time", clock)  # TIME reads `time.time()` there
    return clock


@pytest.fixture
def server() -> object:
    return fakeredis.FakeServer()


async def test_requests_are_spaced_by_the_rate_after_the_burst(
    server: object, clock: Clock
) -> None:
    limiter = make(server, clock, rpm=600)  # 10/s, a bucket of one second = 10 requests
    for _ in range(13):
        await limiter.acquire(0)
    # Ten go at once (the burst), then one every 0.1 s, each booked behind the previous one.
    assert clock.sleeps == pytest.approx([0.1, 0.1, 0.1], abs=TOLERANCE)
    assert limiter.redis_calls == 13
    assert limiter.peers == 1


async def test_two_processes_draw_on_one_bucket(server: object, clock: Clock) -> None:
    a = make(server, clock, rpm=60)
    b = make(server, clock, rpm=60)
    booked = []
    for limiter in (a, b, a, b):
        await limiter.acquire(0)
        booked.append(clock.now)
    # One bucket of one request a second between both: each goes a second after the other.
    assert booked == pytest.approx([0.0, 1.0, 2.0, 3.0], abs=TOLERANCE)
    assert b.peers == 2 and a.peers == 2


async def test_tokens_wait_for_room_and_a_large_request_leaves_debt(
    server: object, clock: Clock
) -> None:
    limiter = make(server, clock, tpm=6000)  # 100 tokens/s, a bucket of 100
    await limiter.acquire(100)  # the whole bucket, at once
    await limiter.acquire(250)  # over the capacity: waits for a full bucket (1 s) ...
    await limiter.acquire(50)  # ... and leaves 150 of debt: 1.5 s, + 0.5 s for these 50
    assert clock.sleeps == pytest.approx([1.0, 2.0], abs=TOLERANCE)


async def test_refunds_reach_redis_with_the_next_booking(server: object, clock: Clock) -> None:
    limiter = make(server, clock, tpm=6000)
    await limiter.acquire(100)
    await limiter.acquire(100)  # 1 s later
    calls = limiter.redis_calls
    limiter.correct(100, 10)  # the answer used 10 of the 100 booked: 0.9 s handed back
    assert limiter.redis_calls == calls  # queued, no call of its own
    await limiter.acquire(100)
    # At t=1 the bucket is empty; without the refund these 100 tokens would wait a full
    # second, with 90 handed back they wait 0.1 s.
    assert clock.sleeps == pytest.approx([1.0, 0.1], abs=TOLERANCE)
    limiter.correct(100, 130)  # an answer over its estimate is charged the difference: 0.3 s
    await limiter.acquire(0)
    assert clock.sleeps[-1] == pytest.approx(0.3, abs=TOLERANCE)


async def test_a_cancelled_booking_is_handed_back(server: object, clock: Clock) -> None:
    limiter = make(server, clock, rpm=60)
    await limiter.acquire(0)
    blocked = asyncio.Event()

    async def never(seconds: float) -> None:
        blocked.set()
        await asyncio.Event().wait()

    limiter._sleep = never
    waiter = asyncio.create_task(limiter.acquire(0))  # booked for t+1 s, then cancelled
    await blocked.wait()
    assert limiter.waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limiter.waiting == 0
    limiter._sleep = clock.sleep
    await limiter.acquire(0)  # takes the handed-back slot: 1 s, not 2 s
    assert clock.sleeps == pytest.approx([1.0], abs=TOLERANCE)


async def test_waiters_of_one_process_book_one_at_a_time_in_order(
    server: object, clock: Clock
) -> None:
    limiter = make(server, clock, rpm=600)
    order: list[int] = []

    async def one(i: int) -> None:
        await limiter.acquire(0)
        order.append(i)

    await asyncio.gather(*(one(i) for i in range(15)))
    assert order == list(range(15))
    assert limiter.redis_calls == 15
    assert clock.sleeps == pytest.approx([0.1] * 5, abs=TOLERANCE)


async def test_redis_unreachable_falls_back_to_a_share_loudly_then_recovers(
    server: object, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    up = True

    def connect() -> object:
        if not up:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")
        return fakeredis.FakeAsyncRedis(server=server)

    limit = RedisRateLimit("redis://:secret@fake:6379", "k", rpm=1200, retry_interval=5)
    other = RedisRateLimiter(limit, clock=clock, sleep=clock.sleep, connect=connect)
    limiter = RedisRateLimiter(limit, clock=clock, sleep=clock.sleep, connect=connect)
    await other.acquire(0)
    await limiter.acquire(0)
    assert limiter.peers == 2  # so the fallback share is one half: 600 rpm, 10 per second
    up = False
    with caplog.at_level(logging.WARNING, logger="aiovertexchat.ratelimit"):
        for _ in range(12):
            await limiter.acquire(0)
    assert limiter.falling_back and limiter.fallbacks == 1
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1
    assert "unreachable" in warning[0] and "0.5 of the limit" in warning[0]
    assert "rpm 600" in warning[0] and "secret" not in warning[0]
    # The share's bucket: 10 at once, then 0.1 s apart.
    assert clock.sleeps == pytest.approx([0.1, 0.1], abs=TOLERANCE)
    caplog.clear()
    up = True
    clock.now += 5  # the retry interval: the next attempt probes Redis, and it answers
    with caplog.at_level(logging.WARNING, logger="aiovertexchat.ratelimit"):
        await limiter.acquire(0)
    assert not limiter.falling_back
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_a_probe_that_fails_keeps_the_share_without_another_warning(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    attempts = 0

    def connect() -> object:
        nonlocal attempts
        attempts += 1
        raise RedisConnectionError("refused")

    limit = RedisRateLimit("redis://fake", "k", rpm=60, fallback_share=0.25, retry_interval=5)
    limiter = RedisRateLimiter(limit, clock=clock, sleep=clock.sleep, connect=connect)
    with caplog.at_level(logging.WARNING, logger="aiovertexchat.ratelimit"):
        await limiter.acquire(0)
        await limiter.acquire(0)  # within the retry interval: the share, no Redis attempt
        assert attempts == 1
        clock.now += 5
        await limiter.acquire(0)  # probes, fails again, quietly
    assert attempts == 2
    assert limiter.fallbacks == 1
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1
    # The share given: 15 rpm, so 4 s between requests after the first.
    assert clock.sleeps[0] == pytest.approx(4.0)


def test_settings_pickle_compare_and_hide_the_password() -> None:
    limit = RedisRateLimit("rediss://user:hunter2@redis.example:6380/1", "quota", rpm=100,
                           tpm=1000, burst=2.0)
    assert isinstance(limit, RateLimit)
    assert pickle.loads(pickle.dumps(limit)) == limit
    assert "hunter2" not in repr(limit) and "user:***@redis.example:6380" in repr(limit)
    assert limit.share(0.5) == RateLimit(rpm=50, tpm=500, burst=2.0)
    assert limit != RedisRateLimit("rediss://user:hunter2@redis.example:6380/1", "other",
                                   rpm=100, tpm=1000, burst=2.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "", "key": "k", "rpm": 1}, "url"),
        ({"url": "redis://h", "key": "", "rpm": 1}, "key"),
        ({"url": "redis://h", "key": "k"}, "rpm or tpm"),
        ({"url": "redis://h", "key": "k", "rpm": 0}, "rpm must be > 0"),
        ({"url": "redis://h", "key": "k", "rpm": 1, "fallback_share": 0}, "fallback_share"),
        ({"url": "redis://h", "key": "k", "rpm": 1, "timeout": 0}, "timeout"),
    ],
)
def test_settings_that_cannot_work_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisRateLimit(**kwargs)  # type: ignore[arg-type]


async def test_the_client_builds_the_redis_limiter_and_a_plain_limit_stays_local() -> None:
    shared = AsyncVertexChat(base_url="http://127.0.0.1:9/v1", api_key="k",
                             rate_limit=RedisRateLimit("redis://127.0.0.1:9", "k", rpm=60))
    local = AsyncVertexChat(base_url="http://127.0.0.1:9/v1", api_key="k",
                            rate_limit=RateLimit(rpm=60))
    try:
        assert type(shared._dispatcher.rate_limiter) is RedisRateLimiter
        assert type(local._dispatcher.rate_limiter).__name__ == "RateLimiter"
    finally:
        await shared.aclose()
        await local.aclose()


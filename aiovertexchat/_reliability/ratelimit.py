"""`RateLimit`: requests and tokens per minute, as token buckets, waited on in FIFO order.

Every attempt (retries included: each is a request to the server) takes one request token and
an *estimate* of the tokens it will use: its prompt (body bytes / 4) plus `max_tokens` (or
`completion_estimate` when the call sets none). When the answer's `usage` arrives the estimate
is corrected, so the bucket follows real spending. The buckets hold `burst` seconds of rate:
the default, one second, spreads requests evenly over the minute instead of sending a minute's
worth at once, which is what a shared capacity pool asks for.

A request larger than a bucket's capacity is not refused: it waits until the bucket is full and
leaves it in debt, which later requests wait out. Nothing fails because of our own limiter.

A client builds its limiter with `rate_limit.limiter()`: `RateLimit` gives these in-process
buckets, `RedisRateLimit` (in `redis_ratelimit`) one bucket pair shared by every process that
names the same Redis key. Both are `RateLimiter`s, so the attempt loop needs no branch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..errors import APITimeoutError

__all__ = ["RateLimit", "RateLimiter"]


@dataclass(frozen=True)
class RateLimit:
    """`rpm`: requests per minute; `tpm`: tokens (prompt + completion) per minute. None: no
    limit. `burst`: seconds of rate a bucket holds. `completion_estimate`: tokens reserved for
    an answer when the call sets no `max_tokens`, corrected from `usage` afterwards."""

    rpm: float | None = None
    tpm: float | None = None
    burst: float = 1.0
    completion_estimate: int = 256

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"RateLimit.{name} must be > 0 (or None for no limit)")
        if not self.burst > 0:
            raise ValueError("RateLimit.burst must be > 0 seconds")
        if self.completion_estimate < 0:
            raise ValueError("RateLimit.completion_estimate must be >= 0")

    def limiter(self) -> RateLimiter:
        """A new limiter holding this setting's buckets; a client builds one for itself."""
        return RateLimiter(self)


class _Bucket:
    """Level refills at `rate` per second up to `capacity`; it may go negative (debt)."""

    __slots__ = ("capacity", "last", "level", "rate")

    def __init__(self, per_minute: float, burst: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * burst)
        self.level = self.capacity
        self.last = now

    def refill(self, now: float) -> None:
        level = self.level + (now - self.last) * self.rate
        self.level = level if level < self.capacity else self.capacity
        self.last = now

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` (at most a full bucket) is available; 0 if it is now."""
        need = min(amount, self.capacity) - self.level
        return need / self.rate if need > 0 else 0.0


class RateLimiter:
    """The buckets of one client. `clock`/`sleep` are injectable so tests step time."""

    def __init__(
        self,
        limit: RateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._sleep = sleep
        now = clock()
        self._requests = _Bucket(limit.rpm, limit.burst, now) if limit.rpm else None
        self._tokens = _Bucket(limit.tpm, limit.burst, now) if limit.tpm else None
        # asyncio.Lock wakes waiters in arrival order and lets no newcomer barge in: FIFO.
        self._lock = asyncio.Lock()
        self.waiting = 0

    def estimate(self, body_size: int, max_tokens: int | None) -> int:
        """Tokens an attempt is charged before sending."""
        completion = self.limit.completion_estimate if max_tokens is None else max_tokens
        return body_size // 4 + completion

    def _wait(self, tokens: int) -> float:
        now = self._clock()
        wait = 0.0
        for bucket, amount in ((self._requests, 1), (self._tokens, tokens)):
            if bucket is not None:
                bucket.refill(now)
                wait = max(wait, bucket.wait_for(amount))
        return wait

    def _take(self, tokens: int) -> None:
        if self._requests is not None:
            self._requests.level -= 1
        if self._tokens is not None:
            self._tokens.level -= tokens

    async def acquire(self, tokens: int, *, within: float | None = None) -> None:
        """Wait (FIFO) until one request and `tokens` tokens may be spent, then spend them.

        `within`: seconds the caller may still wait (its total deadline). A wait that would end
        later is not begun: `APITimeoutError(kind="total", stage="rate_limit")` is raised at
        once, when this caller reaches the head of the queue (a caller still queued behind
        others is cut by its deadline instead).
        """
        if not self.waiting and self._wait(tokens) <= 0:  # nobody queued ahead of us
            self._take(tokens)
            return
        give_up_at = None if within is None else self._clock() + within
        self.waiting += 1
        try:
            async with self._lock:
                while (wait := self._wait(tokens)) > 0:
                    if give_up_at is not None and self._clock() + wait > give_up_at:
                        raise APITimeoutError(
                            f"the rate limit would hold this request {wait:.3g} s, past its "
                            "total deadline: refused without waiting",
                            kind="total",
                            stage="rate_limit",
                        )
                    await self._sleep(wait)
                self._take(tokens)
        finally:
            self.waiting -= 1

    async def aclose(self) -> None:
        """Release what the limiter holds (nothing here; a Redis connection in a subclass)."""

    def correct(self, charged: int, used: int) -> None:
        """The answer's real token count replaces the estimate charged for it."""
        bucket = self._tokens
        if bucket is None or used == charged:
            return
        bucket.refill(self._clock())
        level = bucket.level + charged - used
        bucket.level = level if level < bucket.capacity else bucket.capacity

"""`RedisRateLimit`: one requests/tokens-per-minute limit shared by every process, kept in Redis.

A quota belongs to a project, not to a process: when a job runs on many workers (Beam, Ray,
several `batch` commands), each worker's own `RateLimit` can only hold a guessed share. This
limiter keeps the buckets in Redis instead, so every process that names the same key draws
from the same minute.

How, and why this way:

- **GCRA, one number per bucket.** Each bucket (requests, tokens) is its *theoretical arrival
  time* (TAT): when the bucket would be full again. An attempt costing `c` units may go at
  `TAT - capacity + min(c, capacity)` and pushes the TAT by `c` units; a cost above the capacity
  waits for a full bucket and leaves it in debt, as the in-process `RateLimiter` does. One key
  per bucket, whatever the cost: a token bucket of 100,000 tokens per minute is one number, not
  100,000 entries.
- **Reserve, then sleep; never poll.** One script run (EVALSHA) per attempt computes the time
  the attempt may go, books it, and returns the wait; the caller sleeps that long on its own
  clock. Waiting callers make no further calls, so Redis sees one call per attempt however
  long the queue is. Within a process the waiters queue in arrival order and only the first
  holds a booking: a booked slot cannot move earlier, so booking for every waiter at once would
  pin a queue of token *estimates* into the shared minute that later refunds cannot shorten.
- **Redis's clock.** The script reads `TIME`; the workers' clocks never meet, so clock skew
  between machines cannot let one of them overspend.
- **Refunds.** An attempt books its token *estimate*; when the answer's `usage` arrives the
  difference is queued and travels with this process's next booking (no extra call). A
  booking cancelled while it sleeps is handed back the same way.
- **Redis unreachable** (refused, timed out, any Redis error): the process logs a warning and
  falls back to an in-process `RateLimiter` holding its *share* of the limit: `fallback_share`
  if given, else one over the number of processes Redis last counted on this key in the past
  minute (the whole limit if Redis was never reached). Every `retry_interval` seconds one
  attempt tries Redis again; when it answers, the shared limit is back and that is logged too.
  Nothing fails because of the limiter.

The connection is opened when an attempt needs Redis and closed when no attempt of this
limiter is reserving or sleeping, so a finished client holds no connection; `aclose()` sends
any refunds still queued and closes it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._redact import describe_error as _describe
from ..errors import APITimeoutError
from .ratelimit import RateLimit, RateLimiter

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisRateLimit", "RedisRateLimiter", "redacted_url"]

logger = logging.getLogger("aiovertexchat.ratelimit")

# Processes seen on a key within this many seconds count as sharing it (for the fallback share).
PEER_WINDOW = 60.0

# KEYS: 1 requests TAT, 2 tokens TAT (microseconds of Redis time), 3 peers (sorted set).
# ARGV 1-4 requests and 5-8 tokens: interval (us per unit; 0 = no limit), capacity (us),
# cost (units booked now), adjust (signed units handed back or added before booking).
# ARGV 9: "1" books an attempt, "0" only applies the adjustments. 10: peer id. 11: window (us).
# Returns {microseconds until the booked attempt may go, peers seen within the window}.
RESERVE_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local reserve = ARGV[9] == '1'
local start = now
local tat = {}
for i = 1, 2 do
  local interval = tonumber(ARGV[4 * i - 3])
  if interval > 0 then
    local v = tonumber(redis.call('GET', KEYS[i]) or 0)
    if v < now then v = now end
    v = v + tonumber(ARGV[4 * i]) * interval
    if v < now then v = now end
    tat[i] = v
    if reserve then
      local capacity = tonumber(ARGV[4 * i - 2])
      local need = math.min(tonumber(ARGV[4 * i - 1]) * interval, capacity)
      local earliest = v - capacity + need
      if earliest > start then start = earliest end
    end
  end
end
for i = 1, 2 do
  local v = tat[i]
  if v then
    if reserve then
      if start > v then v = start end
      v = v + tonumber(ARGV[4 * i - 1]) * tonumber(ARGV[4 * i - 3])
    end
    redis.call('SET', KEYS[i], string.format('%.0f', v), 'PX',
               math.floor((v - now) / 1000) + 60000)
  end
end
local window = tonumber(ARGV[11])
redis.call('ZADD', KEYS[3], now, ARGV[10])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
redis.call('PEXPIRE', KEYS[3], math.floor(window / 1000) + 1)
return {math.floor(start - now), redis.call('ZCARD', KEYS[3])}
"""


def redacted_url(url: str) -> str:
    """The URL without its password (for reprs and logs): `redis://user:***@host:6379/0`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


@dataclass(frozen=True, init=False, repr=False)
class RedisRateLimit(RateLimit):
    """A `RateLimit` whose buckets live in Redis, shared by every process using `key`.

    `RedisRateLimit(url, key, rpm=..., tpm=...)` is accepted wherever a `RateLimit` is
    (`AsyncVertexChat(rate_limit=...)`, the Beam and Ray integrations, `batch --redis URL`).
    `url`: `redis://[user:password@]host:port/db` or `rediss://...` (TLS, e.g. Memorystore with
    in-transit encryption); `key`: the name of the shared limit (one per quota). `rpm`, `tpm`,
    `burst`, `completion_estimate`: as in `RateLimit`; at least one of `rpm`/`tpm` is needed.
    `fallback_share`: the fraction of the limit one process uses while Redis is unreachable
    (default: 1 / processes seen on the key in the last minute). `timeout`: seconds a Redis
    call may take before the process falls back (default 1). `retry_interval`: seconds between
    tries to reach Redis again while falling back (default 5). Needs the `redis` extra
    (`pip install 'aiovertexchat[redis]'`). Picklable (it holds settings, no connection).
    Raises ValueError for a setting that cannot work.
    """

    url: str = ""
    key: str = ""
    fallback_share: float | None = None
    timeout: float = 1.0
    retry_interval: float = 5.0

    def __init__(
        self,
        url: str,
        key: str,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        burst: float = 1.0,
        completion_estimate: int = 256,
        fallback_share: float | None = None,
        timeout: float = 1.0,
        retry_interval: float = 5.0,
    ) -> None:
        values = {
            "rpm": rpm, "tpm": tpm, "burst": burst, "completion_estimate": completion_estimate,
            "url": url, "key": key, "fallback_share": fallback_share, "timeout": timeout,
            "retry_interval": retry_interval,
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)  # frozen: the dataclass way to initialise
        self.__post_init__()

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.url, str) or not self.url:
            raise ValueError("RedisRateLimit.url must be a redis:// or rediss:// URL")
        if not isinstance(self.key, str) or not self.key:
            raise ValueError("RedisRateLimit.key must be a non-empty string")
        if self.rpm is None and self.tpm is None:
            raise ValueError("RedisRateLimit needs rpm or tpm (or both)")
        share = self.fallback_share
        if share is not None and not 0.0 < share <= 1.0:
            raise ValueError("RedisRateLimit.fallback_share must be within (0, 1]")
        if not self.timeout > 0 or not self.retry_interval > 0:
            raise ValueError("RedisRateLimit.timeout and retry_interval must be > 0 seconds")

    def __repr__(self) -> str:
        return (
            f"RedisRateLimit(url={redacted_url(self.url)!r}, key={self.key!r}, "
            f"rpm={self.rpm!r}, tpm={self.tpm!r}, burst={self.burst!r})"
        )

    def limiter(self) -> RedisRateLimiter:
        """A limiter drawing on the shared buckets (one per client; raises ImportError
        naming the extra when redis-py is missing)."""
        return RedisRateLimiter(self)

    def share(self, fraction: float) -> RateLimit:
        """The in-process `RateLimit` for `fraction` of this limit (the fallback's)."""
        return RateLimit(
            rpm=self.rpm * fraction if self.rpm else None,
            tpm=self.tpm * fraction if self.tpm else None,
            burst=self.burst,
            completion_estimate=self.completion_estimate,
        )


def _default_connect(limit: RedisRateLimit) -> Callable[[], Redis]:
    try:
        from redis.asyncio import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "RedisRateLimit needs redis-py: pip install 'aiovertexchat[redis]'"
        ) from None

    def connect() -> Redis:
        # One connection per limiter and no retries inside redis-py: a failed call is this
        # limiter's signal to fall back, and redis-py's default backoff would hide it for
        # seconds while every waiting request stalls.
        return Redis.from_url(
            limit.url,
            socket_timeout=limit.timeout,
            socket_connect_timeout=limit.timeout,
            retry=Retry(NoBackoff(), 0),
            single_connection_client=True,
        )

    return connect


def _redis_errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import RedisError

    return (RedisError, OSError, asyncio.TimeoutError)


class _Bucket:
    """Script arguments for one bucket: microseconds per unit and capacity in microseconds."""

    __slots__ = ("capacity", "interval")

    def __init__(self, per_minute: float | None, burst: float) -> None:
        if not per_minute:
            self.interval = 0.0
            self.capacity = 0.0
            return
        self.interval = 60e6 / per_minute
        self.capacity = max(1.0, per_minute / 60.0 * burst) * self.interval


class RedisRateLimiter(RateLimiter):
    """The limiter of one client drawing on a `RedisRateLimit`'s shared buckets.

    Counters: `redis_calls` (script runs), `fallbacks` (times Redis became unreachable),
    `peers` (processes Redis last counted on the key), `falling_back` (now using the share).
    `connect` builds the Redis client (tests pass fakeredis); `clock`/`sleep` as in
    `RateLimiter`.
    """

    limit: RedisRateLimit

    def __init__(
        self,
        limit: RedisRateLimit,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        connect: Callable[[], Redis] | None = None,
    ) -> None:
        super().__init__(limit, clock=clock, sleep=sleep)
        self._connect = connect if connect is not None else _default_connect(limit)
        self._errors = _redis_errors()
        self._redis: Redis | None = None
        self._script: Any = None
        prefix = "{" + limit.key + "}"  # one hash slot for all three keys (Redis Cluster)
        self._keys = [f"{prefix}:requests", f"{prefix}:tokens", f"{prefix}:peers"]
        self._requests_args = _Bucket(limit.rpm, limit.burst)
        self._tokens_args = _Bucket(limit.tpm, limit.burst)
        self._peer = uuid.uuid4().hex
        self._active = 0  # attempts of this limiter queued, booking or sleeping on a booking
        self._booking = asyncio.Lock()
        self._owed_requests = 0  # adjustments queued for the next call (signed units)
        self._owed_tokens = 0
        self._fallback: RateLimiter | None = None
        self._retry_at = 0.0
        self.redis_calls = 0
        self.fallbacks = 0
        self.peers = 0

    @property
    def falling_back(self) -> bool:
        return self._fallback is not None

    # -- acquire ------------------------------------------------------------------------------
    async def acquire(self, tokens: int, *, within: float | None = None) -> None:
        """Book one request and `tokens` tokens in Redis and sleep until they may be spent;
        while Redis is unreachable, wait on this process's share instead. Never raises
        because of Redis.

        `within`: seconds the caller may still wait (its total deadline); a booking that would
        be due later is handed back and `APITimeoutError(kind="total", stage="rate_limit")`
        raised at once, as `RateLimiter.acquire` does.
        """
        give_up_at = None if within is None else self._clock() + within
        self.waiting += 1
        try:
            fallback: RateLimiter | None = None
            self._active += 1
            try:
                # One booking of this limiter outstanding at a time, in arrival order. A booked
                # slot cannot move earlier, so booking for every waiter at once would pin a
                # queue of token *estimates* into the shared minute; one at a time, the refunds
                # of finished requests reach Redis before the next booking is made.
                async with self._booking:
                    wait = await self._book(tokens) if self._redis_due() else None
                    if wait is None:
                        fallback = self._fallback
                    elif wait > 0:
                        if give_up_at is not None and self._clock() + wait > give_up_at:
                            self._owed_requests -= 1  # the slot goes unused: hand it back
                            self._owed_tokens -= tokens
                            raise APITimeoutError(
                                f"the shared rate limit would hold this request {wait:.3g} s, "
                                "past its total deadline: refused without waiting",
                                kind="total",
                                stage="rate_limit",
                            )
                        try:
                            await self._sleep(wait)
                        except asyncio.CancelledError:
                            # The slot goes unused: hand it back with the next call.
                            self._owed_requests -= 1
                            self._owed_tokens -= tokens
                            raise
            finally:
                self._active -= 1
                if self._active == 0:
                    await self._disconnect()
            if fallback is not None:
                remaining = None if give_up_at is None else give_up_at - self._clock()
                await fallback.acquire(tokens, within=remaining)
        finally:
            self.waiting -= 1

    def _redis_due(self) -> bool:
        """Whether this attempt goes to Redis: always, unless falling back; then one attempt
        every `retry_interval` probes it while the others use the share."""
        if self._fallback is None:
            return True
        now = self._clock()
        if now < self._retry_at:
            return False
        self._retry_at = now + self.limit.retry_interval
        return True

    async def _book(self, tokens: int) -> float | None:
        """Seconds to wait for a booked attempt; None when Redis failed (now falling back)."""
        try:
            wait_us, peers = await self._call(reserve=True, tokens=tokens)
        except self._errors as exc:
            await self._disconnect()
            self._enter_fallback(exc)
            return None
        self.peers = peers
        if self._fallback is not None:
            self._fallback = None
            logger.warning(
                "rate limit %r: Redis at %s answers again; the shared limit applies again",
                self.limit.key, redacted_url(self.limit.url),
            )
        return wait_us / 1e6

    async def _call(self, *, reserve: bool, tokens: int) -> tuple[int, int]:
        if self._redis is None:
            self._redis = self._connect()
            self._script = self._redis.register_script(RESERVE_SCRIPT)
        script = self._script
        owed_requests, owed_tokens = self._owed_requests, self._owed_tokens
        # Taken before the call: if it fails we cannot know whether Redis applied them, and
        # losing a refund only under-spends, while applying one twice would overspend.
        self._owed_requests = self._owed_tokens = 0
        req, tok = self._requests_args, self._tokens_args
        self.redis_calls += 1
        reply = await script(
            keys=self._keys,
            args=[
                req.interval, req.capacity, 1 if reserve else 0, owed_requests,
                tok.interval, tok.capacity, tokens if reserve else 0, owed_tokens,
                1 if reserve else 0, self._peer, int(PEER_WINDOW * 1e6),
            ],
        )
        return int(reply[0]), int(reply[1])

    def _enter_fallback(self, error: BaseException) -> None:
        self._retry_at = self._clock() + self.limit.retry_interval
        if self._fallback is not None:
            logger.info("rate limit %r: Redis still unreachable (%s)", self.limit.key,
                        _describe(error))
            return
        limit = self.limit
        share = limit.fallback_share or 1.0 / max(1, self.peers)
        self._fallback = RateLimiter(limit.share(share), clock=self._clock, sleep=self._sleep)
        self.fallbacks += 1
        logger.warning(
            "rate limit %r: Redis at %s is unreachable (%s); this process now limits itself "
            "to %.3g of the limit (rpm %s, tpm %s) and tries Redis again every %g s",
            limit.key, redacted_url(limit.url), _describe(error), share,
            _scaled(limit.rpm, share), _scaled(limit.tpm, share), limit.retry_interval,
        )

    # -- corrections and closing ----------------------------------------------------------------
    def correct(self, charged: int, used: int) -> None:
        """Queue the difference between the tokens booked and those used; it reaches Redis
        with this process's next call."""
        fallback = self._fallback
        if fallback is not None:
            fallback.correct(charged, used)
        elif self.limit.tpm and used != charged:
            self._owed_tokens += used - charged

    async def aclose(self) -> None:
        """Send the adjustments still queued (best effort) and close the connection."""
        if (self._owed_requests or self._owed_tokens) and self._fallback is None:
            try:
                await self._call(reserve=False, tokens=0)
            except self._errors as exc:
                logger.info("rate limit %r: refunds not sent (%s)", self.limit.key,
                            _describe(exc))
        await self._disconnect()

    async def _disconnect(self) -> None:
        redis, self._redis, self._script = self._redis, None, None
        if redis is not None:
            # A dead connection has nothing left to close.
            with contextlib.suppress(*self._errors):
                await redis.aclose()


def _scaled(value: float | None, share: float) -> str:
    return "-" if not value else f"{value * share:g}"


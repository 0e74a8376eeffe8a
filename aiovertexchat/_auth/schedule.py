"""When to refresh an access token: pure decisions, with `now` and the random draw injected.

Timeline of one token, lifetime L (= expires_at - obtained_at)::

    obtained ........ refresh_at ............. usable_until ... expires_at
                      |<------------------ margin M ------------------>|
                                               |<---- skew S --->|

- M = min(max_margin, L * margin_fraction): 5 minutes for Google's one-hour tokens, a quarter of
  the lifetime for short ones (tests use tokens of a few seconds).
- refresh_at = expires_at - M * (1 - jitter * u), u drawn in [0, 1): spread over the oldest
  part of the margin, so processes started together do not hit the token endpoint together.
  The background refresh fires here, long before any request could need a new token.
- usable_until = expires_at - S, S = min(max_skew, L * skew_fraction): a request sent later could
  reach the server after expiry, so it waits for a refresh instead (the only case in which a
  request waits while the old token has not expired yet; the auth source counts it).
- After a failed refresh: retry after an exponential backoff (base and cap scaled down with M),
  with jitter; while the old token is usable the delay is at most half the time left before
  `usable_until`, so several attempts land before any request would have to wait.

No I/O, no clock, no randomness of its own: `GoogleAuth` feeds it `time.monotonic()` and
`random.random()`; tests feed it whatever they like.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RefreshPolicy", "TokenSchedule"]


@dataclass(frozen=True)
class RefreshPolicy:
    """The numbers behind the timeline above."""

    max_margin: float = 300.0
    """Refresh at most this many seconds before expiry (5 min for 1 h tokens)."""
    margin_fraction: float = 0.25
    """... and at most this fraction of the lifetime (short tokens)."""
    jitter: float = 0.2
    """Fraction of the margin over which the refresh moment is spread."""
    max_skew: float = 10.0
    """A token this close to expiry is no longer handed to new requests ..."""
    skew_fraction: float = 0.05
    """... nor one within this fraction of its lifetime of expiry."""
    backoff_initial: float = 1.0
    """First retry delay after a failed refresh (scaled down for short tokens)."""
    backoff_max: float = 30.0
    """Longest retry delay (scaled down for short tokens)."""
    min_interval: float = 0.01
    """Never schedule two refreshes closer than this (a token endpoint answering lifetimes of
    zero must not turn the background task into a busy loop)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.margin_fraction < 1.0:
            raise ValueError("margin_fraction must be within (0, 1)")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError("jitter must be within [0, 1)")
        if not 0.0 <= self.skew_fraction < self.margin_fraction * (1.0 - self.jitter):
            raise ValueError("skew_fraction must be below the jittered margin fraction")
        if min(self.max_margin, self.max_skew, self.backoff_initial, self.backoff_max,
               self.min_interval) <= 0:
            raise ValueError("margins, skew, backoff delays and min_interval must be > 0")

    def margin(self, lifetime: float) -> float:
        return min(self.max_margin, max(lifetime, 0.0) * self.margin_fraction)

    def skew(self, lifetime: float) -> float:
        # Never larger than the smallest jittered margin: the refresh always comes first.
        return min(self.max_skew, max(lifetime, 0.0) * self.skew_fraction,
                   self.margin(lifetime) * (1.0 - self.jitter) / 2)

    def backoff(self, failures: int, margin: float, u: float) -> float:
        """Delay before retry number `failures` (1 = first retry), jittered downwards."""
        base = min(self.backoff_initial, margin / 16)
        cap = min(self.backoff_max, margin / 4)
        delay = min(cap, base * 2.0 ** min(failures - 1, 60))
        return max(self.min_interval, delay * (1.0 - self.jitter * u))


class TokenSchedule:
    """The refresh state of one token source: current deadlines and consecutive failures."""

    __slots__ = (
        "expires_at",
        "failures",
        "lifetime",
        "policy",
        "refresh_at",
        "rng",
        "usable_until",
    )

    def __init__(
        self, policy: RefreshPolicy | None = None, rng: Callable[[], float] | None = None
    ) -> None:
        self.policy = policy or RefreshPolicy()
        self.rng: Callable[[], float] = rng or (lambda: 0.5)
        # Nothing fetched yet: refresh right away (the first fetch is a prefetch at start()).
        self.refresh_at = -math.inf
        self.expires_at: float | None = None
        self.usable_until: float | None = None
        self.lifetime: float | None = None
        self.failures = 0

    @property
    def margin(self) -> float:
        """The margin of the current token; the policy's largest before any token exists."""
        if self.lifetime is None:
            return self.policy.max_margin
        return self.policy.margin(self.lifetime)

    def delay(self, now: float) -> float | None:
        """Seconds until the background refresh is due (0: now); None: nothing scheduled."""
        if math.isinf(self.refresh_at) and self.refresh_at > 0:
            return None
        return max(0.0, self.refresh_at - now)

    def usable(self, now: float) -> bool:
        """Whether a new request may still be sent with the current token."""
        return self.usable_until is not None and now < self.usable_until

    def valid(self, now: float) -> bool:
        """Whether the current token has not expired yet (it may be in its last `skew`)."""
        if self.usable_until is None:
            return False
        return self.expires_at is None or now < self.expires_at

    def on_success(self, now: float, expires_at: float | None) -> None:
        """A new token arrived at `now`; `expires_at` None means it does not expire."""
        self.failures = 0
        if expires_at is None:
            self.expires_at = None
            self.lifetime = None
            self.usable_until = math.inf
            self.refresh_at = math.inf  # only a 401 (invalidate) makes it go away
            return
        lifetime = max(expires_at - now, 0.0)
        policy = self.policy
        margin = policy.margin(lifetime)
        self.expires_at = expires_at
        self.lifetime = lifetime
        self.usable_until = expires_at - policy.skew(lifetime)
        self.refresh_at = max(
            expires_at - margin * (1.0 - policy.jitter * self.rng()), now + policy.min_interval
        )

    def on_failure(self, now: float) -> float:
        """A refresh failed at `now`: schedule the next attempt and return its delay."""
        self.failures += 1
        policy = self.policy
        delay = policy.backoff(self.failures, self.margin, self.rng())
        if self.usable(now):
            assert self.usable_until is not None
            # Keep trying before requests would have to wait: at most half the time left,
            # but not so often that a dying endpoint is hammered in the last milliseconds.
            floor = policy.backoff(1, self.margin, 1.0) / 4
            delay = max(policy.min_interval, min(delay, max((self.usable_until - now) / 2, floor)))
        self.refresh_at = now + delay
        return delay

    def on_invalidate(self) -> None:
        """The server rejected the token: it is gone; the next request fetches a new one."""
        self.usable_until = None
        self.expires_at = None

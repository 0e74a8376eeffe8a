"""Retry decisions: which failures are worth another attempt, how long to wait, and a budget.

Sans-IO: nothing here sleeps or sends. The client's attempt loop (`attempts.py`) asks
`RetryPolicy.classify` what a failure was, `RetryPolicy.delay` how long to back off, and
`RetryBudget` whether retrying is still allowed at all.

Backoff is exponential with *full jitter* (a uniform draw between 0 and the exponential cap):
with thousands of clients failing together, any less randomness makes them retry together.
A server's `Retry-After` (seconds or an HTTP date) or `retry-after-ms` replaces the draw, up
to `max_retry_after`: a hint of an hour is not something a request should sit through.
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import APIError, APIStatusError, FailureKind, classify_failure

__all__ = ["RETRYABLE_STATUSES", "RetryBudget", "RetryPolicy", "retry_after_seconds"]

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# Timeouts that fire before the server said anything: the request may simply be retried.
_EARLY_TIMEOUTS = frozenset({"connect", "first_byte"})


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed request is retried. `RetryPolicy.never()` makes exactly one attempt.

    - `max_attempts`: attempts in all, the first included (1 = no retries).
    - `base`, `cap`: backoff before retry n is uniform in [0, min(cap, base * 2**(n-1))] s.
    - `max_retry_after`: longest server hint (`Retry-After`, `retry-after-ms`) obeyed, s.
    - `statuses`: HTTP statuses retried (also when sent as an error event inside a stream
      before any chunk).
    - `budget_ratio`: retries earned per first-attempt success (0.2 = one retry for every five
      successes, sustained); `budget_burst`: retries allowed with no success at all (None:
      twice the client's `max_concurrency`, at least 20). When the budget is empty the error is
      raised instead of retried, so a failing backend gets no retry storm. None disables it.
    - `restart_on_interrupt`: a stream that already handed chunks to the caller and then broke
      is re-issued from the start instead of raising `StreamInterruptedError` (for callers that
      never show partial output; iteration then continues with the new attempt's chunks).
    """

    max_attempts: int = 4
    base: float = 0.5
    cap: float = 20.0
    max_retry_after: float = 60.0
    statuses: frozenset[int] = RETRYABLE_STATUSES
    budget_ratio: float | None = 0.2
    budget_burst: int | None = None
    restart_on_interrupt: bool = False

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts counts the first attempt too: it must be >= 1")
        if self.base < 0 or self.cap < 0 or self.max_retry_after < 0:
            raise ValueError("base, cap and max_retry_after are seconds >= 0")
        if self.budget_ratio is not None and self.budget_ratio < 0:
            raise ValueError("budget_ratio must be >= 0 (or None for no budget)")
        if self.budget_burst is not None and self.budget_burst < 0:
            raise ValueError("budget_burst must be >= 0 (or None for the default)")

    @classmethod
    def never(cls) -> RetryPolicy:
        """One attempt, no retries (benchmarks: a retried request would hide its error)."""
        return cls(max_attempts=1, budget_ratio=None)

    # -- decisions ----------------------------------------------------------------------------
    def classify(self, error: BaseException, *, chunks_shown: int = 0) -> str | None:
        """The retry cause of a failure (`Failure.label`: "429", "connect", "idle", ...), or
        None if it is final.

        `chunks_shown`: chunks of this attempt already handed to the caller. A stream that
        showed output is retried only with `restart_on_interrupt`.
        """
        failure = classify_failure(error)
        kind = failure.kind
        # Output the caller has seen may only be asked for again when the caller said so.
        may_repeat_output = not chunks_shown or self.restart_on_interrupt
        if kind is FailureKind.STATUS:
            if failure.status not in self.statuses:
                return None
            if isinstance(error, APIError) and error.partial is not None and not may_repeat_output:
                return None  # an error event after chunks the caller has seen
            return failure.label
        if kind is FailureKind.TIMEOUT:
            # "total": the deadline over all attempts has passed; nothing is left to retry in.
            if failure.timeout in _EARLY_TIMEOUTS:
                return failure.label
            if failure.timeout == "idle" and may_repeat_output:
                return failure.label
            return None
        if kind is FailureKind.INTERRUPTED:
            return failure.label if may_repeat_output else None
        if kind is FailureKind.CONNECTION:
            return failure.label
        # A 2xx we could not read, an answer too large, a refused request: never sent again.
        return None

    def delay(self, retry_number: int, rng: random.Random, server_hint: float | None) -> float:
        """Seconds to wait before retry `retry_number` (1 = the first retry)."""
        if server_hint is not None:
            return min(max(server_hint, 0.0), self.max_retry_after)
        exponent = min(retry_number - 1, 62)  # 2**62 s is already beyond any cap
        return rng.uniform(0.0, min(self.cap, self.base * 2.0**exponent))


def retry_after_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """The server's hint: `retry-after-ms`, else `Retry-After` (seconds or an HTTP date).

    `now` is Unix time, for the date form. Unparseable values are ignored (None).
    """
    millis = headers.get("retry-after-ms") or headers.get("Retry-After-Ms")
    if millis:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    raw = headers.get("Retry-After") or headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - now)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


@dataclass
class RetryBudget:
    """A token bucket of retries: each retry spends one, each first-attempt success earns
    `ratio`, up to `burst`. Shared by every request of a client."""

    ratio: float
    burst: float
    balance: float = field(init=False)
    denied: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.balance = self.burst

    def try_spend(self) -> bool:
        if self.balance >= 1.0:
            self.balance -= 1.0
            return True
        self.denied += 1
        return False

    def earn(self) -> None:
        balance = self.balance + self.ratio
        self.balance = balance if balance < self.burst else self.burst


def error_summary(error: BaseException) -> str:
    """One line for an attempt's history: the error without its own history."""
    if isinstance(error, APIStatusError):
        detail = error.google_status or error.reason or ""
        first_line = error.message.split("\n", 1)[0][:160]
        head = f"{error.status_code} {detail}".rstrip()
        return f"{head}: {first_line}" if first_line and detail not in first_line else head
    if isinstance(error, APIError):
        return f"{type(error).__name__}: {error.message.split(chr(10), 1)[0][:200]}"
    return f"{type(error).__name__}: {error}"

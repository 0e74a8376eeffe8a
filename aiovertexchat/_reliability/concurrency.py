"""`ConcurrencyLimiter`: in-flight requests per client, FIFO, with an adaptive (AIMD) limit.

Vertex's shared pool answers 429 when it is busy, far below any quota. The limit therefore
moves: an overload signal (429/503) multiplies it by `decrease`, every success adds
`1/limit` (one slot per round of successes, as TCP congestion avoidance does), always between
`floor` and `ceiling` (the client's `max_concurrency`). Only one cut per round counts: a signal
from a request admitted before the last cut says nothing new, so a burst of 429s from one
wave cuts the limit once, not fifty times. Near the limit where the pool last pushed back the
growth is `_PROBE_SLOWDOWN` times slower (as CUBIC flattens near its last maximum): the limit
spends its time just under the pool's capacity instead of bouncing off it.

Waiters are served strictly in arrival order. Cancelling a waiter removes it; a slot granted to a
waiter that was cancelled at the same moment is passed on, never lost.
"""

from __future__ import annotations

import asyncio
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ConcurrencyLimiter", "Slot", "warn_default_limit"]

_PROBE_SLOWDOWN = 8.0


@dataclass(eq=False)
class Slot:
    """One admitted request; `generation` is the limiter's cut count when it was admitted."""

    generation: int
    released: bool = False


class ConcurrencyLimiter:
    def __init__(
        self,
        ceiling: int | None,
        *,
        adaptive: bool = True,
        floor: int = 1,
        decrease: float = 0.5,
        on_queue: Callable[[ConcurrencyLimiter], bool] | None = None,
    ) -> None:
        if ceiling is not None and ceiling < 1:
            raise ValueError("max_concurrency must be >= 1 (or None for no limit)")
        if not floor >= 1:
            raise ValueError("min_concurrency must be >= 1")
        if ceiling is not None and floor > ceiling:
            raise ValueError(f"min_concurrency ({floor}) is above max_concurrency ({ceiling})")
        if not 0.0 < decrease < 1.0:
            raise ValueError("decrease must be between 0 and 1")
        self.ceiling = ceiling
        self.adaptive = adaptive and ceiling is not None
        self.floor = floor
        self._decrease = decrease
        self._limit = float(ceiling) if ceiling is not None else float("inf")
        self._generation = 0
        self._pushed_back_at: float | None = None  # the limit when the last cut happened
        self.in_flight = 0
        self.cuts = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        # Called when a request has to wait for a slot, until it returns True (then never
        # again): the queueing path only, so admission without a wait costs nothing more.
        self._on_queue = on_queue

    # -- state --------------------------------------------------------------------------------
    @property
    def limit(self) -> int | None:
        """The effective limit now (None: unlimited)."""
        if self.ceiling is None:
            return None
        return max(self.floor, int(self._limit))

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def _has_room(self) -> bool:
        limit = self.limit
        return limit is None or self.in_flight < limit

    # -- admission ----------------------------------------------------------------------------
    async def acquire(self) -> Slot:
        if not self._waiters and self._has_room():
            self.in_flight += 1
            return Slot(self._generation)
        if self._on_queue is not None and self._on_queue(self):
            self._on_queue = None
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                # Granted and cancelled at once: the slot was counted for us; hand it on.
                self.in_flight -= 1
                self._wake()
            elif waiter in self._waiters:  # `_wake` may already have dropped it
                self._waiters.remove(waiter)
            raise
        return Slot(self._generation)

    def release(self, slot: Slot) -> None:
        """Give the slot back (idempotent: a second release of the same slot does nothing)."""
        if slot.released:
            return
        slot.released = True
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and self._has_room():
            waiter = waiters.popleft()
            if waiter.done():  # cancelled while queued, not yet removed
                continue
            self.in_flight += 1
            waiter.set_result(None)

    # -- adaptation ---------------------------------------------------------------------------
    def on_success(self) -> None:
        if self.adaptive and self.ceiling is not None and self._limit < self.ceiling:
            limit = self._limit
            step = 1.0 / limit
            last = self._pushed_back_at
            if last is not None and last - 1.0 <= limit <= last + 1.0:
                step /= _PROBE_SLOWDOWN
            self._limit = min(float(self.ceiling), limit + step)
            self._wake()

    def on_overload(self, slot: Slot) -> bool:
        """A 429/503 for `slot`; returns True when it cut the limit."""
        if not self.adaptive or slot.generation < self._generation:
            return False
        self._pushed_back_at = self._limit
        self._limit = max(float(self.floor), self._limit * self._decrease)
        self._generation += 1
        self.cuts += 1
        return True


def warn_default_limit(limiter: ConcurrencyLimiter) -> bool:
    """The `on_queue` hook of a client whose `max_concurrency` was left at its default: warn,
    once, when requests queue behind that ceiling (not behind a cut of the adaptive limit,
    which is the server pushing back). Returns True once it has warned."""
    ceiling = limiter.ceiling
    if ceiling is None or limiter.in_flight < ceiling:
        return False
    warnings.warn(
        f"aiovertexchat: requests are waiting for a slot: by default at most {ceiling} "
        "requests are in flight per client (max_concurrency; the OpenAI SDK has no such "
        "limit). Pass max_concurrency=N to choose the limit (None: no limit); passing it "
        "also silences this warning",
        UserWarning,
        stacklevel=2,
    )
    return True

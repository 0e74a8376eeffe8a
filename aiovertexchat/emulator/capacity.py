"""The capacity model: Vertex's shared pool answers 429 when it is busy, not at a fixed quota.

Two limits, both optional: requests in flight, and requests admitted per sliding 60 s window.
Sans-IO: the clock is injected, so tests step time instead of sleeping.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

__all__ = ["WINDOW_SECONDS", "CapacityGate"]

WINDOW_SECONDS = 60.0


class CapacityGate:
    """Admission decisions; the caller keeps the in-flight count (it also feeds the stats)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        # Admission times inside the window, oldest first; only kept while max_rpm is set so an
        # unlimited emulator does no per-request bookkeeping.
        self._admitted: deque[float] = deque()

    def admit(self, in_flight: int, max_concurrency: int | None, max_rpm: int | None) -> bool:
        """True when one more request fits; an admitted request counts toward the RPM window."""
        if max_concurrency is not None and in_flight >= max_concurrency:
            return False
        if max_rpm is None:
            self._admitted.clear()
            return True
        now = self._clock()
        horizon = now - WINDOW_SECONDS
        admitted = self._admitted
        while admitted and admitted[0] <= horizon:
            admitted.popleft()
        if len(admitted) >= max_rpm:
            return False
        admitted.append(now)
        return True

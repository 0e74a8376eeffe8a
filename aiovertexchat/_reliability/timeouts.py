"""`Timeouts`: four separate limits, because "600 s total" cannot tell a stalled stream from a
long healthy one.

- `connect`: opening the TCP/TLS connection.
- `first_byte`: from sending the request to the response headers. For a non-streamed answer the
  headers come when the whole answer is ready, so this bounds generation time too.
- `idle`: the longest gap allowed between two stream chunks (and between the headers and the
  first chunk). A stalled stream fails after `idle` seconds instead of hanging.
- `total`: a deadline over everything (all attempts, backoff and the whole stream). None: none.

Each limit may be None (no limit). The error says which one fired: `APITimeoutError.kind`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Timeouts", "as_timeouts"]


@dataclass(frozen=True)
class Timeouts:
    """Seconds; see the module documentation. Defaults suit interactive and batch use alike."""

    connect: float | None = 10.0
    first_byte: float | None = 600.0
    idle: float | None = 120.0
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "first_byte", "idle", "total"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"Timeouts.{name} must be > 0 seconds or None, not {value!r}")


def as_timeouts(value: Timeouts | float | None, base: Timeouts) -> Timeouts:
    """A per-call or constructor `timeout`: a number is the `total` deadline, other limits
    stay as in `base`; None keeps `base`."""
    if value is None:
        return base
    if isinstance(value, Timeouts):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or a Timeouts, not {value!r}")
    return Timeouts(
        connect=base.connect, first_byte=base.first_byte, idle=base.idle, total=float(value)
    )

"""`Timeouts`: four separate limits, because "600 s total" cannot tell a stalled stream from a
long healthy one.

- `connect`: opening the TCP/TLS connection.
- `first_byte`: from sending the request to the response headers, per attempt. For a
  non-streamed answer it runs on to the end of the body: the headers usually come when the
  whole answer is ready, so this bounds generation time, and a body that stalls after the
  headers fails here too (`APITimeoutError(kind="first_byte", stage="body")`).
- `idle`: the longest gap allowed between two stream chunks (and between the headers and the
  first chunk). A stalled stream fails after `idle` seconds instead of hanging.
- `total`: one deadline over the whole call, from the moment `create()` is called: waits for a
  concurrency slot, a rate-limit token and an access token, every attempt, backoff sleeps and
  the whole body or stream. A wait that would run past it fails with
  `APITimeoutError(kind="total")` whose `.stage` names the wait. None: no deadline.

Each limit may be None (no limit). The error says which one fired: `APITimeoutError.kind`.

The defaults are finite, so a call given no timeout still ends: 15 minutes in all leaves a
10-minute reasoning stream (the OpenAI SDK's 600 s) room for its queueing and a retry.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Timeouts", "as_timeouts"]


@dataclass(frozen=True)
class Timeouts:
    """Seconds; see the module documentation. Defaults suit interactive and batch use alike:
    connect 10, first_byte 600, idle 120, total 900 (None turns one off)."""

    connect: float | None = 10.0
    first_byte: float | None = 600.0
    idle: float | None = 120.0
    total: float | None = 900.0

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

"""Telemetry: OpenTelemetry GenAI traces and metrics of the client's calls (README "Telemetry").

The attempt loop (`_http.attempts.Dispatcher`) talks to telemetry through two small interfaces
defined here, and only when telemetry is on:

- `Observer`, one per client: `start_call(...)` opens the trace of one call;
- `CallTrace`, one per call: the attempt loop reports waits, attempts, retries and the end
  (a completion, a failure, or a stream that ended, failed or was closed).

With telemetry off, or without `opentelemetry-api` installed, the client holds no observer and
the attempt loop makes no call at all; nothing of `opentelemetry` is imported. `make_observer`
is the only door to the implementation (`_telemetry.otel`), imported on demand.

Per chunk, nothing runs: the stream already takes one timestamp per chunk (`StreamMetrics`);
what telemetry reports about a stream is read from those timestamps when the stream ends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .names import WAIT_GATE, WAIT_RATE, WAIT_TOKEN

if TYPE_CHECKING:
    from .._reliability.concurrency import ConcurrencyLimiter
    from .._reliability.ratelimit import RateLimiter
    from ..types import ChatCompletion

__all__ = [
    "WAIT_GATE",
    "WAIT_RATE",
    "WAIT_TOKEN",
    "CallTrace",
    "EndedStream",
    "Observer",
    "make_observer",
]

T = TypeVar("T")


class StreamTimes(Protocol):
    """What telemetry reads off a stream's `StreamMetrics` (perf_counter seconds)."""

    @property
    def time_to_first_chunk(self) -> float | None: ...

    @property
    def end_at(self) -> float | None: ...

    @property
    def chunk_times(self) -> list[float]: ...


class EndedStream(Protocol):
    """What telemetry reads off a `ChatStream` once it has ended."""

    @property
    def completion(self) -> ChatCompletion: ...

    @property
    def finished(self) -> bool: ...

    @property
    def metrics(self) -> StreamTimes: ...

    @property
    def request_id(self) -> str | None: ...


class CallTrace(Protocol):
    """The telemetry of one call, fed by the attempt loop. Never raises into the call."""

    def timed(self, kind: str, waiting: Awaitable[T]) -> Awaitable[T]:
        """`waiting`, with the time it takes added to the wait of `kind` (WAIT_*)."""
        ...

    def inject(self, headers: dict[str, str]) -> None:
        """Add the trace context (`traceparent`) to an outgoing request's headers."""

    def answered(self, attempt: int, status: int) -> None:
        """Attempt `attempt` (1-based) got a 2xx answer."""

    def retrying(self, attempt: int, error: BaseException, cause: str, delay: float) -> None:
        """Attempt `attempt` failed and will be retried after `delay` seconds."""

    def gave_up(self, attempt: int, error: BaseException, why: str | None) -> None:
        """Attempt `attempt` failed and is the last (`why`: the limit that stopped retries)."""

    def completed(self, completion: ChatCompletion, attempts: int) -> None:
        """The (non-streamed) call returned `completion`."""

    def failed(self, error: BaseException, attempts: int) -> None:
        """The call raised `error` (or was cancelled) before a completion or stream existed."""

    def stream_ended(self, stream: EndedStream, error: BaseException | None,
                     attempts: int) -> None:
        """The stream ended: whole, failed with `error`, cancelled, or closed early."""


class Observer(Protocol):
    """The telemetry of one client."""

    def start_call(
        self, *, model: str | None, params: Mapping[str, Any], body: bytes, stream: bool
    ) -> CallTrace:
        """Open the trace of one call (its span starts now, under the current context)."""
        ...

    def close(self) -> None:
        """The client closed: its limiter leaves the gauges."""


def make_observer(
    *,
    url: str,
    limiter: ConcurrencyLimiter,
    rate_limiter: RateLimiter | None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    propagate: bool = True,
    environ: Mapping[str, str],
) -> Observer | None:
    """The OpenTelemetry observer of a client, or None when `opentelemetry-api` is missing
    (or unusable: then a warning says why, and the client runs without telemetry).

    `tracer_provider` / `meter_provider`: None for the global ones. `propagate`: inject the
    trace context into requests. `environ` is read once for the content-capture opt-in.
    """
    try:
        from .otel import OTelObserver
    except ImportError:
        return None
    try:
        return OTelObserver(
            url=url,
            limiter=limiter,
            rate_limiter=rate_limiter,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
            propagate=propagate,
            environ=environ,
        )
    except Exception as exc:  # an API or SDK we cannot work with must not stop the client
        logging.getLogger("aiovertexchat.telemetry").warning(
            "telemetry is off for this client: OpenTelemetry could not be set up (%s: %s)",
            type(exc).__name__, exc,
        )
        return None

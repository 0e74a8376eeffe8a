"""Where a request's time went before its first byte: pool wait, DNS, connect, send.

aiohttp reports these steps through `TraceConfig` callbacks. One trace config (from
`timing_trace_config()`) is installed on a transport that asked for it; each callback writes
into the `ConnectionTimings` of the request being made, found through a context variable that
`measuring()` sets around the call (aiohttp runs the callbacks in the task that made the
request, so concurrent requests never see each other's record). Requests made outside
`measuring()` cost one context-variable lookup per callback and record nothing.

Times are `time.perf_counter()` seconds, the clock of `StreamMetrics`. aiohttp opens the TCP
connection and runs the TLS handshake in one step, so `connect` includes TLS for https URLs.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["ConnectionTimings", "measuring", "timing_trace_config"]


@dataclass
class ConnectionTimings:
    """Steps of one HTTP request before its response headers (perf_counter seconds)."""

    request_start: float | None = None
    queued_start: float | None = None
    """Waiting for a free connection of the pool began (absent when none was waited for)."""
    queued_end: float | None = None
    dns_start: float | None = None
    dns_end: float | None = None
    connect_start: float | None = None
    """A new connection was being opened (TCP, and TLS for https)."""
    connect_end: float | None = None
    reused: bool | None = None
    """True when a pooled keep-alive connection carried the request."""
    headers_sent: float | None = None
    """The request line and headers were written (the body follows in the same write)."""
    response_headers: float | None = None

    @staticmethod
    def _span(start: float | None, end: float | None) -> float | None:
        return None if start is None or end is None else end - start

    @property
    def pool_wait(self) -> float | None:
        return self._span(self.queued_start, self.queued_end)

    @property
    def dns(self) -> float | None:
        return self._span(self.dns_start, self.dns_end)

    @property
    def connect(self) -> float | None:
        return self._span(self.connect_start, self.connect_end)

    @property
    def first_byte(self) -> float | None:
        """From the request sent to the response headers: the server's wait plus the network."""
        return self._span(self.headers_sent, self.response_headers)


_CURRENT: contextvars.ContextVar[ConnectionTimings | None] = contextvars.ContextVar(
    "aiovertexchat_connection_timings", default=None
)


@contextlib.contextmanager
def measuring() -> Iterator[ConnectionTimings]:
    """Record the steps of the requests made inside the block (in this task) into one object."""
    timings = ConnectionTimings()
    token = _CURRENT.set(timings)
    try:
        yield timings
    finally:
        _CURRENT.reset(token)


def _setter(field: str, value: Any = None) -> Any:
    async def callback(session: Any, context: Any, params: Any) -> None:
        timings = _CURRENT.get()
        if timings is not None:
            setattr(timings, field, time.perf_counter() if value is None else value)

    return callback


def timing_trace_config() -> aiohttp.TraceConfig:
    """A trace config filling the `ConnectionTimings` of requests made inside `measuring()`."""
    config = aiohttp.TraceConfig()
    config.on_request_start.append(_setter("request_start"))
    config.on_connection_queued_start.append(_setter("queued_start"))
    config.on_connection_queued_end.append(_setter("queued_end"))
    config.on_dns_resolvehost_start.append(_setter("dns_start"))
    config.on_dns_resolvehost_end.append(_setter("dns_end"))
    config.on_connection_create_start.append(_setter("connect_start"))
    config.on_connection_create_end.append(_setter("connect_end"))
    config.on_connection_create_end.append(_setter("reused", False))
    config.on_connection_reuseconn.append(_setter("reused", True))
    config.on_request_headers_sent.append(_setter("headers_sent"))
    config.on_request_end.append(_setter("response_headers"))
    return config

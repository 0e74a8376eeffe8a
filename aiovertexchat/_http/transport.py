"""The HTTP boundary: the only module that imports aiohttp.

One `Transport` owns one `aiohttp.ClientSession` for the client's lifetime. `post()` sends a
request and returns once the status line and headers have arrived; the body is read through the
returned `Response`. aiohttp's exceptions are turned into ours here (`_map_errors`) and
nowhere else.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager
from typing import NoReturn

import aiohttp
import anyio

from .._redact import stand_in
from .._reliability.sizes import describe_size
from ..errors import APIConnectionError, APITimeoutError, ResponseTooLargeError, TimeoutKind
from .network import Network

__all__ = ["Response", "Transport"]

# Bodies of error responses are read only this far: a proxy's HTML page can be large.
_MAX_ERROR_BODY = 64 * 1024


def _timeout_kind(exc: BaseException, default: TimeoutKind) -> TimeoutKind:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "connect"
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return "idle"
    return default


@contextmanager
def _map_errors(what: str, timeout_kind: TimeoutKind) -> Iterator[None]:
    """Turn aiohttp/asyncio failures into `APIConnectionError` / `APITimeoutError`."""
    try:
        yield
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
        kind = _timeout_kind(exc, timeout_kind)
        raise APITimeoutError(f"{what}: {kind} timeout", kind=kind) from stand_in(exc)
    except aiohttp.ClientError as exc:
        # aiohttp's exceptions can hold the request with its headers (the token among them) in
        # their args and repr: the chain keeps a `RedactedError` (class name, redacted text)
        # instead. The context still points at the original until the attempt loop scrubs
        # the chain before the error reaches the caller (`scrub_chain`).
        detail = str(exc) or type(exc).__name__
        raise APIConnectionError(
            f"{what}: {type(exc).__name__}: {detail}"
        ) from stand_in(exc)


async def _within_first_byte(
    request: Awaitable[aiohttp.ClientResponse], deadline: float, seconds: float, url: str
) -> aiohttp.ClientResponse:
    """Await the response headers, raising `APITimeoutError(kind="first_byte")` at `deadline`
    (the event loop's clock).

    A cancel scope, not `asyncio.wait_for`: on Python 3.10 and 3.11 `wait_for` can swallow a
    cancellation that lands as the awaited call completes; a scope cancels until it is left.
    Other timeouts (aiohttp's connect) pass through to `_map_errors` unchanged.
    """
    with anyio.CancelScope(deadline=deadline):
        return await request
    raise APITimeoutError(
        f"POST {url}: no response headers within {seconds:g} s (first_byte timeout)",
        kind="first_byte",
        stage="response",
    )


class Response:
    """A response whose status and headers are known; the body is read on demand.

    `read_deadline` (event-loop clock, `inf`: none) bounds `read()` and `read_error_body()`:
    the rest of a non-streamed answer counts against the attempt's `first_byte` limit
    (`first_byte` seconds, for the message).
    """

    __slots__ = ("_content", "_raw", "first_byte", "headers", "read_deadline", "status")

    def __init__(
        self,
        raw: aiohttp.ClientResponse,
        *,
        read_deadline: float = math.inf,
        first_byte: float | None = None,
    ) -> None:
        self._raw = raw
        self._content = raw.content
        self.status: int = raw.status
        self.headers: Mapping[str, str] = raw.headers
        self.read_deadline = read_deadline
        self.first_byte = first_byte

    async def read(self, limit: int) -> bytes:
        """The whole body, decoded, at most `limit` bytes; the connection goes back to the pool
        afterwards (or is closed when the read fails).

        Raises `ResponseTooLargeError(limit_name="body")` as soon as the body is known to be
        larger (from `Content-Length`, else once `limit` decoded bytes have arrived), and
        `APITimeoutError(kind="first_byte", stage="body")` at `read_deadline`.
        """
        raw = self._raw
        declared = raw.content_length
        if (
            declared is not None
            and declared > limit
            and not raw.headers.get("Content-Encoding")
        ):
            raw.close()
            raise _body_too_large(limit, f"its Content-Length is {declared:,} bytes")
        content = self._content
        try:
            if content.is_eof():
                # The whole body arrived with the headers (the usual case): nothing can stall.
                with _map_errors("reading the response body", "total"):
                    body = await _read_at_most(content, limit)
                raw.release()
                return body
            with anyio.CancelScope(deadline=self.read_deadline):
                with _map_errors("reading the response body", "total"):
                    body = await _read_at_most(content, limit)
                raw.release()
                return body
        except BaseException:
            raw.close()
            raise
        raw.close()  # only reached when the deadline cut the read
        raise APITimeoutError(
            f"the answer's body was not complete within {self.first_byte:g} s of sending "
            "(first_byte timeout)",
            kind="first_byte",
            stage="body",
        )

    async def read_error_body(self) -> bytes:
        """Up to 64 KiB of an error body, then the connection is dropped (bounded in time like
        `read()`)."""
        try:
            with anyio.CancelScope(deadline=self.read_deadline):
                with _map_errors("reading the error body", "total"):
                    return await self._content.read(_MAX_ERROR_BODY)
        finally:
            self._raw.close()
        raise APITimeoutError(
            f"the error body was not complete within {self.first_byte:g} s of sending "
            "(first_byte timeout)",
            kind="first_byte",
            stage="body",
        )

    async def read_chunk(self) -> bytes:
        """Whatever body bytes are available next; `b""` at the end of the body.

        When the connection fails, bytes that had already arrived are handed over first and the
        failure is raised by the next call: they belong in the caller's `.partial`.
        """
        try:
            return await self._content.readany()
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            # aiohttp's reader raises a stored failure before it returns what is buffered
            # (seen on Python 3.10, where the reset often lands before the loop reads).
            leftover = _buffered(self._content)
            if leftover:
                return leftover
            self._raise_read_failure(exc)

    def _raise_read_failure(self, exc: BaseException) -> NoReturn:
        if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
            kind = _timeout_kind(exc, "total")
            raise APITimeoutError(f"reading the stream: {kind} timeout", kind=kind) from exc
        raise APIConnectionError(f"stream broke: {type(exc).__name__}: {exc}") from exc

    def fail(self, error: BaseException) -> None:
        """Make a pending (or the next) body read raise `error` (e.g. an idle timeout)."""
        self._content.set_exception(error)

    def release(self) -> None:
        """Finished with the body: reuse the connection if it is clean, else close it."""
        self._raw.release()

    def close(self) -> None:
        """Abandon the body and close the connection (it cannot be reused mid-body)."""
        self._raw.close()

    @property
    def closed(self) -> bool:
        return bool(self._raw.closed)


def _buffered(content: aiohttp.StreamReader) -> bytes:
    """Bytes the reader holds but would not hand over because a failure is stored."""
    if not getattr(content, "_buffer", None):
        return b""
    data: bytes = content._read_nowait(-1)
    return data


async def _read_at_most(content: aiohttp.StreamReader, limit: int) -> bytes:
    # `readany` hands over what has arrived, already inflated in bounded steps, so the size is
    # checked as the body grows and a compressed body is stopped a step past the limit.
    chunks: list[bytes] = []
    size = 0
    while data := await content.readany():
        size += len(data)
        if size > limit:
            raise _body_too_large(limit, f"{size:,} decoded bytes arrived")
        chunks.append(data)
    return b"".join(chunks)


def _body_too_large(limit: int, why: str) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"the answer is larger than SizeLimits(body={describe_size(limit)}): {why}; it was "
        "not read further nor retried (raise the limit with "
        "AsyncVertexChat(size_limits=SizeLimits(body=...)) if such answers are expected)",
        limit_name="body",
        limit=limit,
    )


class Transport:
    """Connection pool and request sending."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        user_agent: str = "aiovertexchat",
        network: Network | None = None,
    ) -> None:
        self._max_connections = max_connections
        self._user_agent = user_agent
        self._network = network if network is not None else Network()
        # The proxy of each URL, decided once (a client sends to one URL).
        self._proxies: dict[str, str | None] = {}
        self._session: aiohttp.ClientSession | None = None
        self.trace_configs: list[aiohttp.TraceConfig] = []
        """aiohttp trace configs of the session (the bench's per-request timings, see
        `tracing`); read when the session is created, at the first request."""

    def _proxy_for(self, url: str) -> str | None:
        try:
            return self._proxies[url]
        except KeyError:
            proxy = self._proxies[url] = self._network.proxy_for(url)
            return proxy

    def _ensure_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None:
            context = self._network.ssl_context
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                ttl_dns_cache=300,
                # Verified with this context; False only when the caller turned it off.
                ssl=context if context is not None else False,
            )
            session = aiohttp.ClientSession(
                # Proxies come from `Network` (the environment read once, NO_PROXY with CIDR
                # ranges), not from aiohttp's own reading, which would also use ~/.netrc.
                trust_env=False,
                connector=connector,
                headers={"User-Agent": self._user_agent},
                # Timeouts are given per request; the session imposes none of its own.
                timeout=aiohttp.ClientTimeout(total=None),
                raise_for_status=False,
                trace_configs=list(self.trace_configs) or None,
            )
            self._session = session
        return session

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        total: float | None = None,
        connect: float | None = None,
        first_byte: float | None = None,
    ) -> Response:
        """Send a POST and return after the headers arrive (no redirect is followed).

        `connect` bounds opening the connection; `first_byte` the wait for the response
        headers, and then the reading of a non-streamed body (`Response.read`). `total` is an
        aiohttp-level bound over the whole exchange, stream included; the client leaves it None
        and bounds the call with its own deadline.
        """
        session = self._ensure_session()
        client_timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect)
        read_deadline = math.inf
        with _map_errors(f"POST {url}", "total"):
            request = session.post(
                url,
                data=body,
                headers=headers,
                timeout=client_timeout,
                # Credentials go only to the configured origin: a redirect is not followed.
                allow_redirects=False,
                proxy=self._proxy_for(url),
            )
            if first_byte is None:
                raw = await request
            else:
                read_deadline = asyncio.get_running_loop().time() + first_byte
                raw = await _within_first_byte(request, read_deadline, first_byte, url)
        return Response(raw, read_deadline=read_deadline, first_byte=first_byte)

    @property
    def connections_in_use(self) -> int:
        """Connections currently checked out of the pool (0 when idle: used by leak tests)."""
        session = self._session
        if session is None or session.connector is None:
            return 0
        return len(session.connector._acquired)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


"""The HTTP boundary: the only module that imports aiohttp.

One `Transport` owns one `aiohttp.ClientSession` for the client's lifetime. `post()` sends a
request and returns once the status line and headers have arrived; the body is read through the
returned `Response`. aiohttp's exceptions are turned into ours here (`_map_errors`) and
nowhere else.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager

import aiohttp

from .._redact import stand_in
from ..errors import APIConnectionError, APITimeoutError, TimeoutKind
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
    request: Awaitable[aiohttp.ClientResponse], seconds: float, url: str
) -> aiohttp.ClientResponse:
    """Await the response headers, raising `APITimeoutError(kind="first_byte")` after `seconds`.

    Other timeouts (aiohttp's connect and total) pass through to `_map_errors` unchanged.
    """
    expired = False
    try:
        if sys.version_info >= (3, 11):
            timer = asyncio.timeout(seconds)
            try:
                async with timer:
                    return await request
            finally:
                expired = timer.expired()
        else:  # pragma: no cover - Python 3.10 has no asyncio.timeout
            loop = asyncio.get_running_loop()
            started = loop.time()
            try:
                return await asyncio.wait_for(request, seconds)
            finally:
                expired = loop.time() - started >= seconds
    except asyncio.TimeoutError as exc:
        if not expired or isinstance(exc, aiohttp.ServerTimeoutError):
            raise
        raise APITimeoutError(
            f"POST {url}: no response headers within {seconds:g} s (first_byte timeout)",
            kind="first_byte",
        ) from exc


class Response:
    """A response whose status and headers are known; the body is read on demand."""

    __slots__ = ("_content", "_raw", "headers", "status")

    def __init__(self, raw: aiohttp.ClientResponse) -> None:
        self._raw = raw
        self._content = raw.content
        self.status: int = raw.status
        self.headers: Mapping[str, str] = raw.headers

    async def read(self) -> bytes:
        """The whole body; the connection goes back to the pool afterwards."""
        with _map_errors("reading the response body", "total"):
            try:
                return await self._raw.read()
            finally:
                self._raw.release()

    async def read_error_body(self) -> bytes:
        """Up to 64 KiB of an error body, then the connection is dropped."""
        with _map_errors("reading the error body", "total"):
            try:
                return await self._content.read(_MAX_ERROR_BODY)
            finally:
                self._raw.close()

    async def read_chunk(self) -> bytes:
        """Whatever body bytes are available next; `b""` at the end of the body."""
        try:
            return await self._content.readany()
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            kind = _timeout_kind(exc, "total")
            raise APITimeoutError(f"reading the stream: {kind} timeout", kind=kind) from exc
        except aiohttp.ClientError as exc:
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
            )
            self._session = session
        return session

    async def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        total: float | None,
        connect: float | None = None,
        first_byte: float | None = None,
    ) -> Response:
        """Send a POST and return after the headers arrive (no redirect is followed).

        `total` bounds the whole exchange, body (and so stream) included; `connect` opening the
        connection; `first_byte` the wait for the response headers.
        """
        session = self._ensure_session()
        client_timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect)
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
                raw = await _within_first_byte(request, first_byte, url)
        return Response(raw)

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


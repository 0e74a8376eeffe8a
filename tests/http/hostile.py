"""Hostile servers on 127.0.0.1 for the tests of limits: bodies that stall, expand, never end.

`HostileServer(handler)` serves `handler` on every POST (any path), counts the requests, and
stops what it started: `release` is set on exit, so handlers that stall until it (`stall()`)
end, and the runner is cleaned up. Bodies are generated lazily: a 500 MB body is never held.
`ThreadedServer` runs one in a thread of its own, for code that runs its own event loop
(the batch CLI).
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request, "HostileServer"], Awaitable[web.StreamResponse]]
PIECE = 64 * 1024


class HostileServer:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests = 0
        self.bytes_sent = 0
        self.release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def _route(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        await request.read()
        try:
            return await self._handler(request, self)
        except (ConnectionError, asyncio.CancelledError):
            # The client hung up (as it should, past a limit) or the server is stopping.
            return web.Response(status=499)

    async def __aenter__(self) -> HostileServer:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._route)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def write(self, response: web.StreamResponse, data: bytes) -> None:
        self.bytes_sent += len(data)
        await response.write(data)


class ThreadedServer:
    """A `HostileServer` on an event loop in its own thread (`with ThreadedServer(h) as s`)."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.server: HostileServer | None = None

    def __enter__(self) -> HostileServer:
        self._thread.start()

        async def start() -> HostileServer:
            return await HostileServer(self._handler).__aenter__()

        self.server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        asyncio.run_coroutine_threadsafe(self.server.__aexit__(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


# -- bodies ---------------------------------------------------------------------------------------
def completion(content: str = "Hello", **extra: Any) -> dict[str, Any]:
    return {
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop", **extra}],
    }


def chunk(content: str, finish: str | None = None) -> bytes:
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": finish}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def gzip_bomb(expanded: int = 1 << 30, block: int = 1 << 20) -> bytes:
    """A valid gzip body of about 1 MB that expands to `expanded` zero bytes (1 GiB).

    Built in a fraction of a second: after a full flush the compressor's state is the same
    for every block of zeros, so one block's compressed form is repeated.
    """
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zero = bytes(block)
    first = packer.compress(zero) + packer.flush(zlib.Z_FULL_FLUSH)
    repeated = packer.compress(zero) + packer.flush(zlib.Z_FULL_FLUSH)
    end = packer.flush(zlib.Z_FINISH)[:-8]  # its trailer counts two blocks: ours counts all
    crc = 0
    for _ in range(expanded // block):
        crc = zlib.crc32(zero, crc)
    blocks = expanded // block
    return first + repeated * (blocks - 1) + end + struct.pack("<II", crc, expanded & 0xFFFFFFFF)


def pieces(total: int, piece: bytes = b" " * PIECE) -> Iterator[bytes]:
    """`total` bytes of `piece`s, made as they are sent."""
    left = total
    while left > 0:
        yield piece[:left]
        left -= len(piece)


# -- handlers -------------------------------------------------------------------------------------
async def stall(server: HostileServer) -> None:
    await server.release.wait()


def headers_then_stall(status: int = 200, first: bytes = b"{") -> Handler:
    """Status and headers at once, `first` bytes of the body, then nothing."""

    async def handler(request: web.Request, server: HostileServer) -> web.StreamResponse:
        response = web.StreamResponse(
            status=status, headers={"Content-Type": "application/json", "Content-Length": "4096"}
        )
        await response.prepare(request)
        if first:
            await server.write(response, first)
        await stall(server)
        return response

    return handler


def no_headers() -> Handler:
    async def handler(request: web.Request, server: HostileServer) -> web.StreamResponse:
        await stall(server)
        return web.Response(status=500)

    return handler


def json_reply(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    async def handler(request: web.Request, server: HostileServer) -> web.StreamResponse:
        server.bytes_sent += len(body)
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        return web.Response(body=body, status=status, headers=all_headers)

    return handler


def streamed_body(
    parts: Callable[[], Iterator[bytes]],
    *,
    length: int | None = None,
    content_type: str = "application/json",
    encoding: str | None = None,
) -> Handler:
    """A 200 whose body is written piece by piece as the client reads (lazily generated)."""

    async def handler(request: web.Request, server: HostileServer) -> web.StreamResponse:
        headers = {"Content-Type": content_type}
        if encoding is not None:
            headers["Content-Encoding"] = encoding
        response = web.StreamResponse(headers=headers)
        if length is not None:
            response.content_length = length
        await response.prepare(request)
        for part in parts():
            await server.write(response, part)
        await response.write_eof()
        return response

    return handler


def sse_stall_after(*events: bytes) -> Handler:
    """A stream that sends `events` and then nothing (the body stays open)."""

    async def handler(request: web.Request, server: HostileServer) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in events:
            await server.write(response, event)
        await stall(server)
        return response

    return handler


async def drain(stream: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in stream]

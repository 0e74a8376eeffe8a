"""Writing a response body over aiohttp, with the faults that act after the headers are sent.

`write_stream` takes the events a `StreamEncoder` yields and owns pacing (itl), batching and the
in-body faults; `write_body` does the same for a non-streaming body that a fault must damage.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from collections.abc import Iterable, Iterator

from aiohttp import web

from .errors import stream_error_event
from .faults import Fault
from .wire import DONE_EVENT, StreamEncoder

__all__ = ["BodyWriter", "abort_connection", "in_body_faults", "write_body", "write_stream"]

# With itl == 0 events are coalesced into one write: far fewer syscalls and event-loop turns
# per chunk, and what a client reads is what TCP would deliver from a fast server anyway.
_BATCH_BYTES = 16 * 1024
# Bounds how long a reset waits for already-written bytes to leave (a client not reading
# would otherwise hold the handler forever).
_FLUSH_POLLS = 200
_LINGER_RESET = struct.pack("ii", 1, 0)


def abort_connection(request: web.BaseRequest) -> None:
    """Close the connection with a TCP RST, so the client sees a reset, not a clean EOF."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Without SO_LINGER the close degrades to an abrupt FIN: still an error to the client.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()


class BodyWriter:
    """Sends body bytes, in `trickle`-sized pieces when that fault is on."""

    def __init__(
        self, request: web.BaseRequest, response: web.StreamResponse, trickle: Fault | None
    ) -> None:
        self._request = request
        self._response = response
        self._piece = trickle.size if trickle is not None and trickle.size else 0
        self._pause = trickle.seconds if trickle is not None and trickle.seconds else 0.0

    async def send(self, data: bytes) -> None:
        if not self._piece:
            await self._response.write(data)
            return
        step = self._piece
        for start in range(0, len(data), step):
            await self._response.write(data[start : start + step])
            if self._pause:
                await asyncio.sleep(self._pause)

    async def reset(self) -> None:
        """Let written bytes leave, then reset the connection."""
        transport = self._request.transport
        for _ in range(_FLUSH_POLLS):
            if transport is None or not transport.get_write_buffer_size():
                break
            await asyncio.sleep(0.005)
        abort_connection(self._request)


def in_body_faults(faults: Iterable[Fault]) -> tuple[Fault | None, list[Fault]]:
    """(the trickle fault if any, the positional faults sorted by `after`, stable)."""
    trickle = None
    positional = []
    for fault in faults:
        if fault.kind == "trickle":
            trickle = trickle or fault
        elif not fault.before_headers:
            positional.append(fault)
    positional.sort(key=lambda f: f.after or 0)
    return trickle, positional


async def _apply(out: BodyWriter, fault: Fault, encoder: StreamEncoder) -> bool:
    """Act on one positional fault; True when the body must end here."""
    kind = fault.kind
    if kind == "stall":
        await asyncio.sleep(fault.seconds or 0.0)
        return False
    if kind == "malformed-chunk":
        await out.send(encoder.broken_event())
        return False
    if kind == "error-in-stream":
        await out.send(stream_error_event(fault, encoder.dialect))
        return True
    if kind == "reset-mid-stream":
        await out.reset()
        return True
    if kind == "truncate":
        return True
    raise ValueError(f"fault {kind!r} does not act inside a body")


async def write_stream(
    out: BodyWriter,
    events: Iterator[bytes],
    faults: list[Fault],
    *,
    encoder: StreamEncoder,
    itl: float,
    send_done: bool,
) -> int:
    """Write all events (paced by itl) and [DONE]; returns how many chunk events were sent."""
    pending = deque(faults)
    batch: list[bytes] = []
    batched = 0
    sent = 0
    for event in events:
        if pending and (pending[0].after or 0) <= sent:
            if batch:
                await out.send(b"".join(batch))
                batch, batched = [], 0
            while pending and (pending[0].after or 0) <= sent:
                if await _apply(out, pending.popleft(), encoder):
                    return sent
        if itl > 0.0:
            if sent:
                await asyncio.sleep(itl)
            await out.send(event)
        else:
            batch.append(event)
            batched += len(event)
            if batched >= _BATCH_BYTES:
                await out.send(b"".join(batch))
                batch, batched = [], 0
                # A write only yields when the socket is full; let concurrent streams interleave.
                await asyncio.sleep(0)
        sent += 1
    if batch:
        await out.send(b"".join(batch))
    while pending:  # `after` beyond the last event: act just before [DONE]
        if await _apply(out, pending.popleft(), encoder):
            return sent
    if send_done:
        await out.send(DONE_EVENT)
    return sent


async def write_body(out: BodyWriter, body: bytes, faults: list[Fault]) -> None:
    """A non-streaming body under in-body faults: the closest analogue of each stream fault."""
    for fault in faults:
        kind = fault.kind
        if kind == "stall":
            await asyncio.sleep(fault.seconds or 0.0)
        elif kind == "reset-mid-stream":
            await out.send(body[: len(body) // 2])
            await out.reset()
            return
        elif kind == "truncate":
            await out.send(body[: len(body) // 2])
            return
        elif kind == "malformed-chunk":
            await out.send(body[:-1])  # complete HTTP body, JSON missing its closing brace
            return
    await out.send(body)

"""Many slow concurrent streams: client CPU per chunk and peak RSS, per client, in one run.

The workload the burst benchmark (`client_overhead.py`) does not show: 10,000 streams open at
once, 32 chunks each, one chunk per server write, writes paced 100 ms apart. Per-stream state
(memory) and per-read overhead (one event-loop wake-up per chunk) dominate here, not parsing.

How it is measured, and why:
- The server is a small purpose-built HTTP/1.1 server (raw asyncio, chunked transfer encoding,
  OpenAI `chat.completion.chunk` SSE events, a final usage chunk and `[DONE]`) in another process
  pinned to core 1; every client runs in its own process pinned to core 0, so the two never
  compete for a core and `ru_maxrss` is the peak of that client alone.
- One timer tick per millisecond writes every frame that is due; the server records how late
  each write was (its lag). If it is late, chunks reach the client in clumps and the client
  figures flatter it, so the lag is printed and a late server is flagged.
- CPU per chunk = client process CPU time (user + sys) of the measured phase / chunks received.
  The measured phase starts after a warm-up (imports, first connections) and ends when the last
  stream has ended; starts are spread over `--ramp` seconds, as requests arrive in practice.
- A fresh server (new port) per client: connections a previous client left in TIME_WAIT never
  collide with the next one's, and the server's memory does not carry over.

Run: `python benchmarks/streams_realistic.py` (~2 min), `--quick` (1,000 streams, ~30 s),
`--streams N --chunks C --interval MS` to change the workload, `--variants a,b` to pick clients,
`--profile cpu|mem` to profile the chosen clients (cProfile / tracemalloc, printed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODEL = "google/gemini-2.5-flash"
CLIENT_CORE, SERVER_CORE = 0, 1
# A request whose prompt holds this is a warm-up: answered at once with a 2-chunk stream.
WARM_MARK = "[[warm-up]]"
WORDS = [" The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", "."]

# Targets for aiovertexchat (b) against the hand-written aiohttp loop (a).
CPU_TARGET, RSS_TARGET = 1.0, 1.1
# The server counts as on schedule while 99% of its writes are late by at most this fraction of
# the interval: a stream's consecutive chunks then still arrive in separate reads.
MAX_P99_LAG = 0.25


# ---- the workload (shared by server and clients) ------------------------------------------------
def content_pieces(chunks: int) -> list[str]:
    """The text of each content chunk: all chunks but the last (which carries usage only)."""
    return [WORDS[k % len(WORDS)] for k in range(chunks - 1)]


def expected_text(chunks: int) -> str:
    return "".join(content_pieces(chunks))


def expected_usage(chunks: int) -> tuple[int, int, int]:
    prompt, completion = 21, chunks - 1
    return prompt, completion, prompt + completion


# ---- server ------------------------------------------------------------------------------------
def _sse_frames(chunks: int) -> list[bytes]:
    """One HTTP chunk (chunked transfer encoding) per SSE event; the last also ends the body."""
    import orjson

    base = {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion.chunk",
        "created": 1732332000,
        "model": MODEL,
        "system_fingerprint": "fp_44709d6fcb",
    }
    events: list[bytes] = []
    pieces = content_pieces(chunks)
    for k, text in enumerate(pieces):
        delta: dict[str, Any] = {"content": text}
        if k == 0:
            delta = {"role": "assistant", "content": text, "refusal": None}
        last = k == len(pieces) - 1
        chunk = {
            **base,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None,
                 "finish_reason": "stop" if last else None}
            ],
            "usage": None,
        }
        events.append(b"data: " + orjson.dumps(chunk) + b"\n\n")
    prompt, completion, total = expected_usage(chunks)
    usage = {
        **base,
        "choices": [],
        "usage": {
            "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0,
                                          "rejected_prediction_tokens": 0},
        },
    }
    events.append(b"data: " + orjson.dumps(usage) + b"\n\ndata: [DONE]\n\n")
    frames = [b"%x\r\n%s\r\n" % (len(event), event) for event in events]
    frames[-1] += b"0\r\n\r\n"
    return frames


# Headers as a Google front end sends them for a streamed completion (values shortened).
_RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream; charset=utf-8\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"Date: Mon, 23 Nov 2026 08:54:25 GMT\r\n"
    b"Server: scaffolding on HTTPServer2\r\n"
    b"Cache-Control: no-cache\r\n"
    b"Vary: Origin, X-Origin, Referer\r\n"
    b"X-XSS-Protection: 0\r\n"
    b"X-Frame-Options: SAMEORIGIN\r\n"
    b"X-Content-Type-Options: nosniff\r\n"
    b'Alt-Svc: h3=":443"; ma=2592000,h3-29=":443"; ma=2592000\r\n'
)


_WARM_BYTES = WARM_MARK.encode()


class _Conn:
    """One accepted connection: raw non-blocking socket, HTTP/1.1 keep-alive.

    Raw sockets, not asyncio transports: the server must write ~100,000 frames a second from
    one core, and `transport.write` roughly doubles the cost of each `send`.
    """

    __slots__ = ("buf", "due", "fd", "head", "next", "pending", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.buf = b""  # request bytes not yet parsed
        self.pending = b""  # response bytes the socket would not take yet (rare)
        self.head = b""  # response head, sent with the first frame
        self.due = 0.0  # when the next frame is scheduled (loop.time() seconds)
        self.next = 0  # index of the next frame; -1 once the connection is closed


class _Server:
    """Accepts, parses requests, and paces every stream from one recurring 1 ms tick.

    Streams are kept in a ring of `interval / tick` lists: a stream's writes are all `interval`
    apart, so it stays in one list for its whole life and each tick visits only the streams
    due in it (a timer per write would cost more than the write).
    """

    TICK = 0.001

    def __init__(self, loop: asyncio.AbstractEventLoop, listener: socket.socket,
                 interval: float, frames: list[bytes]) -> None:
        self.loop = loop
        self.listener = listener
        self.interval = interval
        self.frames = frames
        self.warm_frames = _sse_frames(2)
        self.ring: list[list[_Conn]] = [[] for _ in range(max(1, round(interval / self.TICK)))]
        self.t0 = loop.time()
        self.slot = 0  # next slot to process
        self.lags = array("d")  # seconds late, per paced write
        self.request_id = 0
        self.streams = 0
        self.stalled = 0  # writes the socket could not take at once
        self.busy_from: float | None = None
        self.first_request = 0.0
        self.arrivals = array("d")  # when each paced request arrived, from the first one
        loop.add_reader(listener.fileno(), self._accept)
        loop.call_at(self.t0 + self.TICK, self._tick)

    # -- connections ---------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(sock)
            self.loop.add_reader(conn.fd, self._readable, conn)

    def _readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        buf = conn.buf + data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(buf) < end + 4 + length:
                break
            body = buf[end + 4: end + 4 + length]
            buf = buf[end + 4 + length:]
            self._start(conn, paced=_WARM_BYTES not in body)
        conn.buf = buf

    def _close(self, conn: _Conn) -> None:
        if conn.next == -1:
            return
        conn.next = -1
        self.loop.remove_reader(conn.fd)
        if conn.pending:
            self.loop.remove_writer(conn.fd)
        conn.sock.close()

    def _send(self, conn: _Conn, data: bytes) -> None:
        if not conn.pending:
            try:
                sent = conn.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close(conn)
                return
            if sent == len(data):
                return
            data = data[sent:]
            self.loop.add_writer(conn.fd, self._writable, conn)
        self.stalled += 1
        conn.pending += data

    def _writable(self, conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        conn.pending = conn.pending[sent:]
        if not conn.pending:
            self.loop.remove_writer(conn.fd)

    # -- streams -------------------------------------------------------------------------------
    def _start(self, conn: _Conn, paced: bool) -> None:
        self.request_id += 1
        head = _RESPONSE_HEAD + b"X-Request-Id: req-%d\r\n\r\n" % self.request_id
        if not paced:  # warm-up: a short stream at once, still one write per frame
            self._send(conn, head + self.warm_frames[0])
            for frame in self.warm_frames[1:]:
                self._send(conn, frame)
            return
        if self.busy_from is None:
            self.busy_from = time.process_time()
            self.first_request = self.loop.time()
        self.arrivals.append(self.loop.time() - self.first_request)
        self.streams += 1
        conn.head = head
        conn.next = 0
        conn.due = self.loop.time() + self.interval
        slot = int((conn.due - self.t0) / self.TICK) + 1
        self.ring[slot % len(self.ring)].append(conn)

    def _tick(self) -> None:
        now = self.loop.time()
        current = int((now - self.t0) / self.TICK)
        frames, last, lags, ring = self.frames, len(self.frames) - 1, self.lags, self.ring
        interval, send, t0, size = self.interval, self._send, self.t0, len(ring)
        for slot in range(self.slot, current + 1):
            index = slot % size
            bucket = ring[index]
            if not bucket:
                continue
            keep: list[_Conn] = []
            for conn in bucket:
                k = conn.next
                if k < 0:
                    continue  # closed
                if conn.due > now:
                    keep.append(conn)  # due a whole ring turn later
                    continue
                if k == 0:
                    send(conn, conn.head + frames[0])
                else:
                    send(conn, frames[k])
                lags.append(now - conn.due)
                if k < last:
                    conn.next = k + 1
                    due = conn.due = conn.due + interval
                    # Same list unless the interval is not a whole number of ticks.
                    moved = (int((due - t0) / self.TICK) + 1) % size
                    if moved == index:
                        keep.append(conn)
                    else:
                        ring[moved].append(conn)
            ring[index] = keep
        self.slot = current + 1
        self.loop.call_at(self.t0 + (current + 1) * self.TICK, self._tick)

    def report(self) -> dict[str, Any]:
        lags = sorted(self.lags)

        def pct(q: float) -> float:
            return lags[min(len(lags) - 1, int(q * len(lags)))] if lags else 0.0

        return {
            "streams": self.streams, "writes": len(lags), "stalled_writes": self.stalled,
            "lag_p50_ms": pct(0.50) * 1e3, "lag_p99_ms": pct(0.99) * 1e3,
            "lag_max_ms": (lags[-1] if lags else 0.0) * 1e3,
            "last_request_s": max(self.arrivals, default=0.0),
            "cpu_s": time.process_time() - (self.busy_from or time.process_time()),
        }


def server_main(args: argparse.Namespace) -> None:
    pinned = _pin(SERVER_CORE)
    _raise_nofile()
    frames = _sse_frames(args.chunks)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(min(args.streams, 65535))  # the kernel caps it at somaxconn
        listener.setblocking(False)
        server = _Server(loop, listener, args.interval / 1000, frames)
        port = listener.getsockname()[1]
        print(json.dumps({"port": port, "pinned": pinned}), flush=True)
        stop = asyncio.Event()
        loop.add_reader(sys.stdin.fileno(), stop.set)  # any input (or EOF) ends the server
        await stop.wait()
        loop.remove_reader(sys.stdin.fileno())
        print(json.dumps(server.report()), flush=True)
        loop.remove_reader(listener.fileno())
        listener.close()

    asyncio.run(serve())


# ---- clients -----------------------------------------------------------------------------------
PROMPT = "Write one sentence about a fox and a dog."
WARM_PROMPT = PROMPT + " " + WARM_MARK


def _messages(warm: bool) -> list[dict[str, str]]:
    return [{"role": "user", "content": WARM_PROMPT if warm else PROMPT}]


def _body(warm: bool) -> bytes:
    import orjson

    return orjson.dumps({
        "model": MODEL, "messages": _messages(warm), "stream": True,
        "stream_options": {"include_usage": True},
    })


# A variant: an async context manager (given the stream count and base URL) yielding
# `one(warm)`, which runs one stream to its end and returns (chunks, text, total_tokens).
OneStream = Callable[[bool], Awaitable[tuple[int, str, int]]]
Variant = Callable[[int, str], contextlib.AbstractAsyncContextManager[OneStream]]


@contextlib.asynccontextmanager
async def variant_aiohttp(streams: int, base_url: str) -> AsyncIterator[OneStream]:
    """(a) The loop people write by hand: `async for line in resp.content`, orjson per line."""
    import aiohttp
    import orjson

    bodies = {warm: _body(warm) for warm in (False, True)}
    url = base_url + "/chat/completions"
    headers = {"Authorization": "Bearer k", "Content-Type": "application/json",
               "Accept": "text/event-stream"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=streams)) as session:

        async def one(warm: bool) -> tuple[int, str, int]:
            n, total = 0, 0
            parts: list[str] = []
            async with session.post(url, data=bodies[warm], headers=headers) as resp:
                resp.raise_for_status()
                async for line in resp.content:
                    if not line.startswith(b"data: "):
                        continue
                    payload = line[6:].rstrip()
                    if payload == b"[DONE]":
                        break
                    chunk = orjson.loads(payload)
                    n += 1
                    for choice in chunk["choices"]:
                        content = choice["delta"].get("content")
                        if content:
                            parts.append(content)
                    if chunk.get("usage"):
                        total = chunk["usage"]["total_tokens"]
            return n, "".join(parts), total

        yield one


@contextlib.asynccontextmanager
async def variant_ours(streams: int, base_url: str) -> AsyncIterator[OneStream]:
    """(b) aiovertexchat with its defaults (retries, adaptive limit, idle timeout, metrics,
    accumulation, thought separation), the concurrency limit raised to the stream count."""
    from aiovertexchat import AsyncVertexChat

    async with AsyncVertexChat(base_url=base_url, api_key="k", max_concurrency=streams) as client:
        assert client.timeouts.idle is not None  # the idle watchdog is on (default 120 s)
        create = client.chat.completions.create

        async def one(warm: bool) -> tuple[int, str, int]:
            n = 0
            stream = await create(model=MODEL, messages=_messages(warm), stream=True,
                                  stream_options={"include_usage": True})
            async for _chunk in stream:
                n += 1
            usage = stream.usage
            return (n, stream.completion.choices[0].message.content or "",
                    usage.total_tokens if usage is not None else 0)

        yield one


@contextlib.asynccontextmanager
async def variant_openai(streams: int, base_url: str) -> AsyncIterator[OneStream]:
    """(c) AsyncOpenAI on aiohttp (DefaultAioHttpClient), its pool raised to the stream count."""
    import httpx2
    import openai

    http = openai.DefaultAioHttpClient(
        limits=httpx2.Limits(max_connections=streams, max_keepalive_connections=streams),
        # Its default 5 s connect timeout expires while it opens 10,000 connections at once
        # for the warm-up (its own CPU is the bottleneck); the paced phase is unaffected.
        timeout=httpx2.Timeout(600.0, connect=120.0),
    )
    async with openai.AsyncOpenAI(base_url=base_url, api_key="k", http_client=http) as client:
        create = client.chat.completions.create

        async def one(warm: bool) -> tuple[int, str, int]:
            n, total = 0, 0
            parts: list[str] = []
            stream = await create(model=MODEL, messages=_messages(warm),  # type: ignore[arg-type]
                                  stream=True, stream_options={"include_usage": True})
            async for chunk in stream:
                n += 1
                for choice in chunk.choices:
                    if choice.delta.content:
                        parts.append(choice.delta.content)
                if chunk.usage is not None:
                    total = chunk.usage.total_tokens
            return n, "".join(parts), total

        yield one


class _BareConnection(asyncio.Protocol):
    """(d) No HTTP library: keep-alive connection, status line, chunked framing, SSE `data:`
    lines, orjson; one response at a time, its chunks handed out through an async iterator."""

    def __init__(self, loads: Callable[[bytes], Any]) -> None:
        self.loads = loads
        self.transport: asyncio.Transport | None = None
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.reset()

    def reset(self) -> None:
        self.buf = b""
        self.sse = b""
        self.head_done = False
        self.chunks: deque[Any] = deque()
        self.done = False  # [DONE] seen
        self.body_done = False  # the last HTTP chunk seen: the connection is free again

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if not self.head_done:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 200"):
                self._fail(RuntimeError(buf[:end].decode("latin-1")))
                return
            self.head_done = True
            buf = buf[end + 4:]
        sse = self.sse
        while True:  # chunked transfer encoding
            eol = buf.find(b"\r\n")
            if eol < 0:
                break
            size = int(buf[:eol], 16)
            if size == 0:
                if len(buf) >= eol + 4:
                    self.body_done = True
                    buf = buf[eol + 4:]
                break
            if len(buf) < eol + 4 + size:
                break
            sse += buf[eol + 2: eol + 2 + size]
            buf = buf[eol + 4 + size:]
        self.buf = buf
        events = sse.split(b"\n\n")
        self.sse = events.pop()
        for event in events:
            if event.startswith(b"data: "):
                payload = event[6:]
                if payload == b"[DONE]":
                    self.done = True
                else:
                    self.chunks.append(self.loads(payload))
        self._wake()

    def _fail(self, error: BaseException) -> None:
        self.error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("connection closed"))

    def __aiter__(self) -> _BareConnection:
        return self

    async def __anext__(self) -> Any:
        while not self.chunks:
            if self.done and self.body_done:
                raise StopAsyncIteration
            if self.error is not None:
                raise self.error
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return self.chunks.popleft()


@contextlib.asynccontextmanager
async def variant_bare(streams: int, base_url: str) -> AsyncIterator[OneStream]:
    import orjson

    loop = asyncio.get_running_loop()
    hostport, _, path = base_url.split("://", 1)[1].partition("/")
    host, _, port = hostport.partition(":")
    requests = {}
    for warm in (False, True):
        body = _body(warm)
        requests[warm] = (
            f"POST /{path}/chat/completions HTTP/1.1\r\nHost: {hostport}\r\n"
            "Authorization: Bearer k\r\nContent-Type: application/json\r\n"
            f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
    idle: list[_BareConnection] = []  # the pool: free keep-alive connections
    every: list[_BareConnection] = []

    async def one(warm: bool) -> tuple[int, str, int]:
        if idle:
            conn = idle.pop()
            conn.reset()
        else:
            _, conn = await loop.create_connection(
                lambda: _BareConnection(orjson.loads), host, int(port)
            )
            every.append(conn)
        assert conn.transport is not None
        conn.transport.write(requests[warm])
        n, total = 0, 0
        parts: list[str] = []
        async for chunk in conn:
            n += 1
            for choice in chunk["choices"]:
                content = choice["delta"].get("content")
                if content:
                    parts.append(content)
            if chunk.get("usage"):
                total = chunk["usage"]["total_tokens"]
        idle.append(conn)
        return n, "".join(parts), total

    try:
        yield one
    finally:
        for conn in every:
            if conn.transport is not None:
                conn.transport.close()


VARIANTS: dict[str, tuple[str, Variant]] = {
    "a": ("aiohttp `async for line` + orjson", variant_aiohttp),
    "b": ("aiovertexchat (all features on)", variant_ours),
    "c": ("AsyncOpenAI + DefaultAioHttpClient", variant_openai),
    "d": ("bare asyncio.Protocol + orjson", variant_bare),
}


# ---- client process ----------------------------------------------------------------------------
def _pin(core: int) -> int | None:
    """Pin this process to `core` when the machine has it and another core to spare."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    available = os.sched_getaffinity(0)
    if core not in available or len(available) < 2:
        return None
    os.sched_setaffinity(0, {core})
    return core


def _raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _cpu() -> float:
    # User + system CPU of this process (os.times() would tick in 10 ms steps).
    return time.process_time()


async def _drive(variant: Variant, args: argparse.Namespace) -> dict[str, Any]:
    want_text, want_total = expected_text(args.chunks), expected_usage(args.chunks)[2]
    errors: list[str] = []
    received = 0
    active = 0
    snapshots: dict[str, Any] = {}

    async with variant(args.streams, f"http://127.0.0.1:{args.port}/v1") as one:
        # Warm-up, not measured: imports and caches, then (unless --cold) one short stream per
        # connection the measured phase will use, so it runs on a warm pool, as a long-lived
        # service does. Opening 10,000 connections costs more CPU than streaming over them.
        await asyncio.gather(*(one(True) for _ in range(min(50, args.streams))))
        if not args.cold:
            warm = await asyncio.gather(*(one(True) for _ in range(args.streams)),
                                        return_exceptions=True)
            failed = [w for w in warm if isinstance(w, BaseException)]
            if failed:
                raise RuntimeError(f"{len(failed)} warm-up streams failed, e.g. {failed[0]!r}")
        gc.collect()
        if args.profile == "mem":
            import tracemalloc

            tracemalloc.start(8)
            snapshots["before"] = tracemalloc.take_snapshot()

        async def run(i: int) -> None:
            nonlocal received, active
            active += 1
            try:
                n, text, total = await one(False)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return
            finally:
                active -= 1
            received += n
            if n != args.chunks or text != want_text or total != want_total:
                errors.append(f"stream {i}: {n} chunks, text ok={text == want_text}, "
                              f"total_tokens {total}")

        async def snap() -> None:
            # Half-way through the paced phase every stream is open (none can end before the
            # server has sent its last chunk): the state of all the live streams.
            import tracemalloc

            await asyncio.sleep(args.ramp + args.interval / 1000 * args.chunks / 2)
            snapshots["active"] = active
            snapshots["during"] = tracemalloc.take_snapshot()

        profiler = None
        if args.profile == "cpu":
            import cProfile

            # CPU time, not wall time: waits in epoll and preemption by other processes would
            # otherwise land on whatever function happened to be running.
            profiler = cProfile.Profile(time.process_time)
        gc_time = [0.0, 0, 0]  # CPU seconds in the cyclic GC, collections, full collections
        gc_by_generation = [0, 0, 0]
        gc_s_by_generation = [0.0, 0.0, 0.0]
        gc_started = [0.0]

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                gc_started[0] = time.process_time()
            else:
                spent = time.process_time() - gc_started[0]
                gc_time[0] += spent
                gc_s_by_generation[info["generation"]] += spent
                gc_time[1] += 1
                gc_time[2] += info["generation"] == 2
                gc_by_generation[info["generation"]] += 1

        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        loop = asyncio.get_running_loop()
        cpu0, wall0 = _cpu(), time.perf_counter()
        gc.callbacks.append(on_gc)
        if profiler is not None:
            profiler.enable()
        snapper = asyncio.create_task(snap()) if args.profile == "mem" else None
        tasks = []
        start = loop.time()
        for i in range(args.streams):  # starts spread evenly over --ramp seconds
            delay = start + args.ramp * i / args.streams - loop.time()
            if delay > 0.001:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(run(i)))
        await asyncio.gather(*tasks)
        if profiler is not None:
            profiler.disable()
        cpu, wall = _cpu() - cpu0, time.perf_counter() - wall0
        gc.callbacks.remove(on_gc)
        if snapper is not None:
            await snapper
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result: dict[str, Any] = {
        "streams": args.streams, "chunks": received, "cpu_s": cpu, "wall_s": wall,
        "us_per_chunk": cpu / received * 1e6 if received else float("nan"),
        "peak_rss_mb": usage.ru_maxrss / 1024, "rss_before_mb": rss_before / 1024,
        "gc_s": gc_time[0], "gc_collections": gc_time[1], "gc_full": gc_time[2],
        "gc_by_generation": gc_by_generation, "gc_s_by_generation": gc_s_by_generation,
        "errors": len(errors), "first_errors": errors[:3],
    }
    if profiler is not None:
        _print_cpu_profile(profiler, received, args)
    if args.profile == "mem" and "during" in snapshots:
        _print_mem_profile(snapshots, args)
    return result


def _print_cpu_profile(profiler: Any, chunks: int, args: argparse.Namespace) -> None:
    import pstats

    if args.profile_out:
        profiler.dump_stats(args.profile_out)
    stats = pstats.Stats(profiler, stream=sys.stderr)
    print(f"\n== cProfile of the measured phase ({chunks} chunks; tottime / chunk) ==",
          file=sys.stderr)
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in (
        stats.stats.items()  # type: ignore[attr-defined]
    ):
        rows.append((tottime, cumtime, calls, f"{_short(filename)}:{line}({name})"))
    rows.sort(reverse=True)
    print(f"{'µs/chunk self':>14}{'µs/chunk cum':>14}{'calls/chunk':>13}  function",
          file=sys.stderr)
    for tottime, cumtime, calls, where in rows[: args.profile_top]:
        print(f"{tottime / chunks * 1e6:>14.3f}{cumtime / chunks * 1e6:>14.3f}"
              f"{calls / chunks:>13.3f}  {where}", file=sys.stderr)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3", "aiovertexchat/"):
        at = filename.rfind(marker)
        if at >= 0:
            return filename[at:]
    return filename


def _print_mem_profile(snapshots: dict[str, Any], args: argparse.Namespace) -> None:
    active = max(1, snapshots["active"])
    before, during = snapshots["before"], snapshots["during"]
    for key in ("lineno", "traceback"):
        stats = during.compare_to(before, key)
        total = sum(stat.size_diff for stat in stats)
        print(f"\n== tracemalloc: growth with {active} streams open, by {key} "
              f"(total {total / 1e6:.1f} MB = {total / active:.0f} B/stream) ==",
              file=sys.stderr)
        print(f"{'B/stream':>9}{'blocks/stream':>15}  where", file=sys.stderr)
        for stat in stats[: args.profile_top if key == "lineno" else 12]:
            if stat.size_diff <= 0:
                continue
            frames = list(stat.traceback)[::-1]  # most recent first
            where = " <- ".join(
                f"{_short(frame.filename)}:{frame.lineno}"
                for frame in frames[: 4 if key == "traceback" else 1]
            )
            print(f"{stat.size_diff / active:>9.0f}{stat.count_diff / active:>15.2f}  {where}",
                  file=sys.stderr)


def client_main(args: argparse.Namespace) -> None:
    pinned = _pin(CLIENT_CORE)
    nofile = _raise_nofile()
    if nofile < args.streams + 100:
        raise SystemExit(f"RLIMIT_NOFILE is {nofile}: too low for {args.streams} streams")
    variant = VARIANTS[args.variant][1]
    result = asyncio.run(_drive(variant, args))
    result["pinned"] = pinned
    module = sys.modules.get("aiovertexchat")
    if module is not None and module.__file__ is not None:
        result["origin"] = str(Path(module.__file__).resolve().parent.parent)
    print("RESULT " + json.dumps(result), flush=True)


# ---- parent ------------------------------------------------------------------------------------
def _child(role: str, args: argparse.Namespace, extra: list[str]) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--role", role,
            "--streams", str(args.streams), "--chunks", str(args.chunks),
            "--interval", str(args.interval), "--ramp", str(args.ramp),
            *(["--cold"] if args.cold else []), *extra]


def run_variant(key: str, args: argparse.Namespace, code: Path | None = None,
                tag: str | None = None) -> dict[str, Any]:
    """One client run against a fresh server; `code`: import aiovertexchat from there."""
    server = subprocess.Popen(_child("server", args, []), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert server.stdin is not None and server.stdout is not None
    env = None
    if code is not None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(code), *filter(None, [env.get("PYTHONPATH")])])
    try:
        hello = json.loads(server.stdout.readline())
        extra = ["--variant", key, "--port", str(hello["port"])]
        if args.profile:
            extra += ["--profile", args.profile, "--profile-top", str(args.profile_top)]
            if args.profile_out:
                extra += ["--profile-out", f"{args.profile_out}.{tag or key}"]
        client = subprocess.run(_child("client", args, extra), stdout=subprocess.PIPE,
                                text=True, timeout=args.timeout, env=env)
        lines = [line for line in client.stdout.splitlines() if line.startswith("RESULT ")]
        if client.returncode != 0 or not lines:
            raise RuntimeError(f"client {tag or key} failed (exit {client.returncode})")
        result: dict[str, Any] = json.loads(lines[-1][len("RESULT "):])
        server.stdin.write("stop\n")
        server.stdin.flush()
        result["server"] = json.loads(server.stdout.readline())
        result["server_pinned"] = hello["pinned"]
        if code is not None and Path(result.get("origin", "")).resolve() != code.resolve():
            raise RuntimeError(f"client {tag} imported aiovertexchat from "
                               f"{result.get('origin')}, not from {code}")
        return result
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()


def _check_ports(streams: int) -> None:
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return
    if streams > high - low:
        print(f"WARNING: {streams} streams but only {high - low + 1} ephemeral ports "
              f"({low}-{high}); connections will fail")


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median CPU per chunk (peak RSS: the median over runs)."""
    ordered = sorted(runs, key=lambda r: r["us_per_chunk"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    rss = sorted(r["peak_rss_mb"] for r in runs)
    chosen["peak_rss_mb"] = rss[(len(rss) - 1) // 2]
    chosen["runs"] = [(r["us_per_chunk"], r["peak_rss_mb"]) for r in runs]
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 streams (~30 s)")
    parser.add_argument("--streams", type=int, help="concurrent streams (default 10000)")
    parser.add_argument("--chunks", type=int, default=32, help="chunks per stream, usage chunk "
                        "included (default 32)")
    parser.add_argument("--interval", type=float, default=100.0,
                        help="ms between two writes of one stream (default 100)")
    parser.add_argument("--ramp", type=float, help="seconds over which streams start "
                        "(default: 1 s per 10,000 streams)")
    parser.add_argument("--cold", action="store_true", help="no warm connection pool: each "
                        "stream's connection is opened in the measured phase")
    parser.add_argument("--variants", default="abcd", help="which clients, e.g. 'ab' "
                        "(a: aiohttp loop, b: aiovertexchat, c: AsyncOpenAI, d: bare Protocol)")
    parser.add_argument("--baseline", metavar="REF", action="append",
                        help="also run aiovertexchat as of git REF (e.g. 8c57114, before the "
                        "layer move; extracted with git archive) or from the checkout in "
                        "directory REF; repeatable")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, interleaved; the "
                        "table shows each client's median (default 1)")
    parser.add_argument("--profile", choices=["cpu", "mem"],
                        help="profile the chosen clients (printed to stderr)")
    parser.add_argument("--profile-top", type=int, default=40)
    parser.add_argument("--profile-out", help="also write cProfile stats to PATH.<variant>")
    parser.add_argument("--timeout", type=float, default=900.0, help="per client, seconds")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--role", choices=["server", "client"], help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.streams is None:
        args.streams = 1000 if args.quick else 10_000
    if args.ramp is None:
        args.ramp = args.streams / 10_000
    if args.chunks < 2:
        parser.error("--chunks must be at least 2 (content, then the usage chunk)")
    if args.role == "server":
        server_main(args)
        return 0
    if args.role == "client":
        client_main(args)
        return 0

    with tempfile.TemporaryDirectory(prefix="aiovertexchat-baseline-") as tmp:
        # (row key, variant, code to import aiovertexchat from, label)
        rows = [(key, key, None, VARIANTS[key][0]) for key in args.variants if key in VARIANTS]
        for number, ref in enumerate(args.baseline or []):
            tree = Path(ref)
            if not (tree / "aiovertexchat" / "__init__.py").is_file():
                from before_after import extract

                tree = Path(tmp) / str(number)
                why = extract(ref, tree)
                if why is not None:
                    print(f"NOTE: no row for {ref}: {why}")
                    continue
            rows.append((f"b@{ref}", "b", tree, f"aiovertexchat as of {ref}"))
        _check_ports(args.streams)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"{args.streams} streams x {args.chunks} chunks, one chunk per write every "
              f"{args.interval:g} ms, starts spread over {args.ramp:g} s; server and each "
              f"client in their own process (cores {SERVER_CORE} and {CLIENT_CORE}); "
              f"load avg {load:.2f}")
        runs: dict[str, list[dict[str, Any]]] = {row[0]: [] for row in rows}
        for round_ in range(args.repeat):
            for key, variant, code, label in rows:
                print(f"  {f'round {round_ + 1}: ' if args.repeat > 1 else ''}running ({key}) "
                      f"{label} ...", flush=True)
                runs[key].append(run_variant(variant, args, code, key))
    results = {key: _median_run(key_runs) for key, key_runs in runs.items()}
    labels = {row[0]: row[3] for row in rows}
    return report(results, labels, args)


def report(results: dict[str, dict[str, Any]], labels: dict[str, str],
           args: argparse.Namespace) -> int:
    median = f" (median of {args.repeat} rounds)" if args.repeat > 1 else ""
    print(f"\n{'client' + median:<44}{'µs CPU/chunk':>13}{'(GC)':>6}{'peak RSS MB':>12}"
          f"{'wall s':>7}{'busy':>5}{'starts s':>9}{'server lag ms p50/p99/max':>27}")
    for key, r in results.items():
        s = r["server"]
        busy = r["cpu_s"] / r["wall_s"] if r["wall_s"] else 0.0
        gc_us = r["gc_s"] / r["chunks"] * 1e6 if r["chunks"] else 0.0
        lag = f"{s['lag_p50_ms']:.1f}/{s['lag_p99_ms']:.1f}/{s['lag_max_ms']:.0f}"
        name = f"({key}) {labels[key]}"
        print(f"{name:<44}{r['us_per_chunk']:>13.1f}{gc_us:>6.1f}"
              f"{r['peak_rss_mb']:>12.0f}{r['wall_s']:>7.1f}{busy:>5.0%}"
              f"{s['last_request_s']:>9.1f}{lag:>27}")
    for key, r in results.items():
        counts, seconds = r["gc_by_generation"], r["gc_s_by_generation"]
        each = ", ".join(f"{n} {name} ({t:.2f} s)" for n, name, t in
                         zip(counts, ("young", "middle", "full"), seconds, strict=True))
        print(f"  ({key}) GC collections in the phase: {each}")
    if args.repeat > 1:
        for key, r in results.items():
            each = ", ".join(f"{cpu:.1f} µs/{rss:.0f} MB" for cpu, rss in r["runs"])
            print(f"  ({key}) rounds: {each}")
    print("(GC) = part of the CPU spent in the cyclic garbage collector; busy = client CPU / wall "
          "time of\nthe measured phase; starts = seconds from the first request to the last "
          f"(the ramp is {args.ramp:g} s).")

    ok = True
    for key, r in results.items():
        if r["errors"]:
            ok = False
            print(f"ERROR ({key}): {r['errors']} streams failed or were wrong, e.g. "
                  f"{r['first_errors']}")
        if r["pinned"] is None or r["server_pinned"] is None:
            print(f"NOTE ({key}): not pinned (fewer than 2 cores available)")
        if r["server"]["lag_p99_ms"] > MAX_P99_LAG * args.interval:
            print(f"WARNING ({key}): the server fell behind its schedule (p99 lag "
                  f"{r['server']['lag_p99_ms']:.1f} ms > {MAX_P99_LAG:.0%} of the interval): "
                  "chunks arrived in clumps, so this client's figures are flattered")
    checks: list[tuple[str, bool]] = []
    if "a" in results:
        a = results["a"]
        print()
        for key, r in results.items():
            if key != "a":
                print(f"({key}) / (a): CPU per chunk {r['us_per_chunk'] / a['us_per_chunk']:.2f}x,"
                      f" peak RSS {r['peak_rss_mb'] / a['peak_rss_mb']:.2f}x")
        if "b" in results:
            b = results["b"]
            cpu_ratio = b["us_per_chunk"] / a["us_per_chunk"]
            rss_ratio = b["peak_rss_mb"] / a["peak_rss_mb"]
            checks = [
                (f"realistic: aiovertexchat CPU/chunk <= {CPU_TARGET:.1f}x the aiohttp loop "
                 f"({cpu_ratio:.2f}x)", cpu_ratio <= CPU_TARGET),
                (f"realistic: aiovertexchat peak RSS <= {RSS_TARGET:.1f}x the aiohttp loop "
                 f"({rss_ratio:.2f}x)", rss_ratio <= RSS_TARGET),
            ]
            print()
            for label, passed in checks:
                print(f"{'PASS' if passed else 'FAIL'}  {label}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    if not ok:
        return 1
    return 1 if args.strict and not all(passed for _, passed in checks) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Memory held per open stream, by allocation site: aiovertexchat against the hand-written loop.

Deterministic, unlike peak RSS under load: a server subprocess sends the headers and the first
`--chunks` SSE events of every stream (one per write, `--interval` apart), then holds the
connections open. The client opens
`--streams` streams, reads those chunks on each (and then waits, as it would for the next chunk),
and tracemalloc compares the heap before the streams with the heap at that moment. Every stream
is then in the same state, so bytes / streams is exact.

The figures count the Python heap only (what tracemalloc sees), not allocator overhead, so they
are below what peak RSS grows by per stream; they are exact and repeatable, which RSS is not.

Run: `python benchmarks/stream_heap.py [--streams 500] [--chunks 16] [--top 25]` (~1 min).
tracemalloc slows the client several times: keep `--streams` x 1000 / `--interval` low enough
for it to read every chunk on its own (a clumped read leaves it holding several events).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from streams_realistic import (  # noqa: E402
    _RESPONSE_HEAD,
    MODEL,
    _raise_nofile,
    _short,
    _sse_frames,
)


class Handle:
    """An open stream that has read its first chunk, then (after the server's "go") the rest."""

    def __init__(self, task: asyncio.Task[None], got: asyncio.Event) -> None:
        self.task = task
        self.got = got

    async def read_all(self) -> None:
        await _until(self.got, self.task)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


# Opens a stream that reads `n` chunks; returns once the first has arrived.
Opener = Callable[[int], Awaitable[Handle]]
Reader = Callable[[asyncio.Event, asyncio.Event], Awaitable[None]]


def server_main(chunks: int, total: int, interval: float) -> None:
    # The first `chunks` events of the stream, without its ending: the connection stays open.
    # The first goes out at once; the others only after a "go" line on stdin, one per write,
    # `interval` apart. So the client is not still opening connections while they arrive
    # (that would clump several into one read) and every stream ends in the same state.
    frames = _sse_frames(total)[:chunks]

    async def serve() -> None:
        held: list[asyncio.StreamWriter] = []
        gate = [asyncio.Event()]

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:  # a pooled connection closed unused
                writer.close()
                return
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            await reader.readexactly(length)
            held.append(writer)
            writer.write(_RESPONSE_HEAD + b"X-Request-Id: req-1\r\n\r\n" + frames[0])
            await gate[0].wait()
            for frame in frames[1:]:
                await asyncio.sleep(interval)
                if writer.is_closing():
                    return
                writer.write(frame)

        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
        print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def command() -> None:
            line = sys.stdin.readline()
            if line.strip() == "go":
                gate[0].set()  # releases every stream waiting now; later ones wait again
                gate[0] = asyncio.Event()
            elif not line:
                stop.set()

        loop.add_reader(sys.stdin.fileno(), command)
        await stop.wait()
        loop.remove_reader(sys.stdin.fileno())
        for writer in held:
            writer.close()
        server.close()

    asyncio.run(serve())


async def _until(event: asyncio.Event, task: asyncio.Task[None]) -> None:
    """Wait for `event`; raise if `task` ends first."""
    waiter = asyncio.create_task(event.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    if not event.is_set():
        waiter.cancel()
        await task  # raises what stopped it
        raise RuntimeError("the stream ended before its chunks arrived")
    await waiter


async def _reading(run: Reader) -> Handle:
    """Start `run(first, got)` in a task; return once it has read its first chunk."""
    first, got = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(run(first, got))
    await _until(first, task)
    return Handle(task, got)


@contextlib.asynccontextmanager
async def aiohttp_loop(base_url: str, streams: int) -> AsyncIterator[Opener]:
    import aiohttp
    import orjson

    body = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}],
                         "stream": True})
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=streams)) as session:

        async def open_one(n: int) -> Callable[[], Awaitable[None]]:
            async def run(first: asyncio.Event, got: asyncio.Event) -> None:
                parts: list[str] = []
                seen = 0
                async with session.post(base_url + "/chat/completions", data=body) as resp:
                    async for line in resp.content:
                        if not line.startswith(b"data: "):
                            continue
                        chunk = orjson.loads(line[6:])
                        for choice in chunk["choices"]:
                            content = choice["delta"].get("content")
                            if content:
                                parts.append(content)
                        seen += 1
                        first.set()
                        if seen == n:
                            got.set()

            return await _reading(run)

        yield open_one


@contextlib.asynccontextmanager
async def ours(base_url: str, streams: int) -> AsyncIterator[Opener]:
    from aiovertexchat import AsyncVertexChat, Timeouts

    # tracemalloc slows the client several times: opening thousands of connections at once
    # then outlasts the default 10 s connect timeout. Memory does not depend on it.
    timeout = Timeouts(connect=300.0)
    async with AsyncVertexChat(base_url=base_url, api_key="k", max_concurrency=streams,
                               timeout=timeout) as client:

        async def open_one(n: int) -> Callable[[], Awaitable[None]]:
            async def run(first: asyncio.Event, got: asyncio.Event) -> None:
                seen = 0
                stream = await client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True,
                    stream_options={"include_usage": True},
                )
                async with stream:
                    async for _chunk in stream:
                        seen += 1
                        first.set()
                        if seen == n:
                            got.set()

            return await _reading(run)

        yield open_one


CLIENTS: dict[str, Callable[[str, int], contextlib.AbstractAsyncContextManager[Opener]]] = {
    "aiohttp `async for line` + orjson": aiohttp_loop,
    "aiovertexchat": ours,
}


async def measure(name: str, port: int, go: Callable[[], None],
                  args: argparse.Namespace) -> tuple[int, list[Any], collections.Counter[str]]:
    base_url = f"http://127.0.0.1:{port}/v1"
    async with CLIENTS[name](base_url, args.streams) as open_one:

        async def open_all(count: int) -> list[Handle]:
            handles = await asyncio.gather(*(open_one(args.chunks) for _ in range(count)))
            go()
            await asyncio.gather(*(handle.read_all() for handle in handles))
            return handles

        # Warm-up (imports, caches). A stream closed mid-body closes its connection, so the
        # connections of the measured streams are opened after the baseline and counted: each
        # open stream holds one.
        for handle in await open_all(20):
            await handle.close()
        gc.collect()
        tracked_before = _tracked_by_type()
        tracemalloc.start(6)
        before = tracemalloc.take_snapshot()
        handles = await open_all(args.streams)
        gc.collect()
        tracked = _tracked_by_type()  # before the snapshot, whose traces are tracked tuples
        tracked.subtract(tracked_before)
        during = tracemalloc.take_snapshot()
        tracemalloc.stop()
        stats = during.compare_to(before, "lineno")
        total = sum(stat.size_diff for stat in stats)
        for handle in handles:
            await handle.close()
    return total, stats, tracked


def _tracked_by_type() -> collections.Counter[str]:
    """Objects the cyclic GC tracks, by type. A full collection visits every one of them, and
    with thousands of streams open full collections are most of the GC's cost."""
    return collections.Counter(
        f"{type(obj).__module__}.{type(obj).__qualname__}" for obj in gc.get_objects()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--chunks", type=int, default=16, help="chunks read on every stream "
                        "before the snapshot (default 16, half of a 32-chunk stream)")
    parser.add_argument("--interval", type=float, default=1000.0,
                        help="ms between two chunks of a stream (default 1000)")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--role", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "server":
        server_main(args.chunks, 32 if args.chunks < 32 else args.chunks + 1,
                    args.interval / 1000)
        return
    _raise_nofile()
    totals = {}
    objects_by_client: dict[str, int] = {}
    for name in CLIENTS:
        server = subprocess.Popen(
            [sys.executable, __file__, "--role", "server", "--chunks", str(args.chunks),
             "--interval", str(args.interval)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert server.stdin is not None and server.stdout is not None
        try:
            port = json.loads(server.stdout.readline())["port"]

            def go(pipe: Any = server.stdin) -> None:
                pipe.write("go\n")
                pipe.flush()

            total, stats, tracked = asyncio.run(measure(name, port, go, args))
        finally:
            server.stdin.close()
            server.wait(timeout=30)
            server.stdout.close()
        totals[name] = total
        print(f"\n== {name}: {total / args.streams:.0f} B per open stream after "
              f"{args.chunks} chunks ({args.streams} streams) ==")
        print(f"{'B/stream':>9}{'objects/stream':>16}  allocated at")
        for stat in stats[: args.top]:
            if stat.size_diff <= 0:
                continue
            frame = stat.traceback[-1]
            print(f"{stat.size_diff / args.streams:>9.0f}{stat.count_diff / args.streams:>16.2f}"
                  f"  {_short(frame.filename)}:{frame.lineno}")
        objects = sum(tracked.values())
        objects_by_client[name] = objects
        print(f"GC-tracked objects per open stream: {objects / args.streams:.1f}; by type:")
        for kind, count in tracked.most_common(args.top):
            if count / args.streams >= 0.5:
                print(f"{count / args.streams:>9.2f}  {kind}")
    names = list(totals)
    print("\nGC-tracked objects per open stream: " + ", ".join(
        f"{name} {objects_by_client[name] / args.streams:.1f}" for name in names))
    print(f"\n{names[1]} / {names[0]}: {totals[names[1]] / totals[names[0]]:.2f}x the Python "
          f"heap per open stream (+{(totals[names[1]] - totals[names[0]]) / args.streams:.0f} B)")


if __name__ == "__main__":
    main()

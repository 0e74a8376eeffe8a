"""Peak memory of many concurrent streams fed maximum-size events, against the documented bound.

The README promises that what a client holds for its answers is bounded by `SizeLimits`: each
open stream at most `SizeLimits.stream` decoded bytes (its partial event and its accumulated
completion are part of what it received) plus one event (the one being handed to the caller,
and the slack of a growing buffer), so `streams x (SizeLimits.stream + SizeLimits.event)` in
all, plus a fixed cost per connection. This measures it at its worst:

- The server (a subprocess, so its memory is not counted) answers every stream with events of
  exactly `SizeLimits.event` bytes (the largest a stream accepts), `--events` of them.
- It holds every stream back just before the end of its last event until all streams are
  there, so every client stream holds its whole allowance at the same moment: the completed
  events in its accumulator and the last event, nearly complete, in its decoder.
- The client's peak RSS (`ru_maxrss`) growth over its RSS before the streams is compared with
  that bound, the per-connection cost measured with tiny events.

Run: `python benchmarks/stream_memory.py` (1,000 streams of 2 x 1 MiB events: about 2 GiB;
`--events 8` measures the default limits' full worst case, 1,000 x 8 MiB, if the machine has
the memory). Prints PASS/FAIL; `--strict` exits 1 on FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from typing import Any

MiB = 1024 * 1024
MODEL = "some-model"


# -- the server (a subprocess) --------------------------------------------------------------------
def _event(size: int, index: int) -> bytes:
    """One `data:` line of exactly `size` bytes (the decoder's measure), plus its blank line."""
    head = b'data: {"id":"m","object":"chat.completion.chunk","created":1,"model":"m",' \
        b'"choices":[{"index":0,"delta":{"content":"'
    tail = b'"},"finish_reason":null}]}'
    filler = size - len(head) - len(tail)
    assert filler > 0, "event size too small for a chunk"
    letter = bytes([ord("a") + index % 26])
    return head + letter * filler + tail + b"\n\n"


async def serve(streams: int, event_bytes: int, events: int, hold: float) -> None:
    from aiohttp import web

    bodies = [_event(event_bytes, i) for i in range(events)]
    end = (
        b'data: {"id":"m","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )
    waiting = 0
    everyone_there = asyncio.Event()
    piece = 64 * 1024

    async def chat(request: web.Request) -> web.StreamResponse:
        nonlocal waiting
        body = await request.json()
        held = body.get("max_tokens") != 1  # the warm-up request is not held back
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for number, event in enumerate(bodies):
            last = number == len(bodies) - 1
            cut = len(event) - 1024 if last and held else len(event)
            for start in range(0, cut, piece):
                await response.write(event[start : min(cut, start + piece)])
            if cut < len(event):
                waiting += 1
                if waiting >= streams:
                    await asyncio.sleep(hold)  # let the client read what was sent
                    everyone_there.set()
                await everyone_there.wait()
                await response.write(event[cut:])
        await response.write(end)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    print(f"http://127.0.0.1:{runner.addresses[0][1]}/v1", flush=True)
    try:
        await asyncio.Event().wait()  # until the parent terminates us
    finally:
        await runner.cleanup()


# -- the client (this process) --------------------------------------------------------------------
def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def run_streams(base_url: str, streams: int, limits: Any) -> tuple[float, float, int]:
    from aiovertexchat import AsyncVertexChat, RetryPolicy, Timeouts

    async with AsyncVertexChat(
        base_url=base_url, api_key="k", max_concurrency=streams, size_limits=limits,
        retry=RetryPolicy.never(), timeout=Timeouts(idle=None, total=600),
    ) as client:
        warm = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "warm"}], max_tokens=1,
            stream=True,
        )
        async for _ in warm:
            pass
        del warm
        before = rss_mib()
        sizes: list[int] = []

        async def one(i: int) -> None:
            stream = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": f"stream {i}"}], stream=True
            )
            async for _ in stream:
                pass
            content = stream.completion.choices[0].message.content or ""
            sizes.append(len(content))

        await asyncio.gather(*(one(i) for i in range(streams)))
        peak = rss_mib()
    return before, peak, sum(sizes)


def measure(streams: int, event_bytes: int, events: int, hold: float) -> tuple[float, float, int]:
    from aiovertexchat import SizeLimits

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--streams", str(streams), "--event-bytes",
         str(event_bytes), "--events", str(events), "--hold", str(hold)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        # The stream limit: exactly what the server sends (its events, the final chunk).
        limits = SizeLimits(event=event_bytes, stream=events * (event_bytes + 2) + 4096)
        return asyncio.run(run_streams(base_url, streams, limits))
    finally:
        server.terminate()
        server.wait(10)


def _fresh(args: list[str]) -> dict[str, Any]:
    """One measurement in a fresh interpreter: ru_maxrss never goes down within a process."""
    out = subprocess.run(
        [sys.executable, __file__, "--one", *args], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--event-bytes", type=int, default=MiB,
                        help="size of every event (default: SizeLimits().event, 1 MiB)")
    parser.add_argument("--events", type=int, default=2, help="events per stream (default 2)")
    parser.add_argument("--hold", type=float, default=3.0,
                        help="seconds the server waits, all streams held, before finishing")
    parser.add_argument("--strict", action="store_true", help="exit 1 on FAIL")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.streams, args.event_bytes, args.events, args.hold))
        return 0
    if args.one:
        before, peak, received = measure(args.streams, args.event_bytes, args.events, args.hold)
        print(json.dumps({"before": before, "peak": peak, "received": received}))
        return 0

    from aiovertexchat import SizeLimits

    streams, events, size = args.streams, args.events, args.event_bytes
    print(f"{streams} concurrent streams, {events} events of {size / MiB:.3g} MiB each "
          f"(the largest SizeLimits(event=...) accepts), all held at their peak together")
    started = time.perf_counter()
    # The fixed cost of a connection and a stream, with events too small to matter.
    small = _fresh(["--streams", str(streams), "--event-bytes", "512", "--events", "1",
                    "--hold", str(args.hold)])
    per_stream_kib = max(0.0, small["peak"] - small["before"]) * 1024 / streams
    big = _fresh(["--streams", str(streams), "--event-bytes", str(size), "--events",
                  str(events), "--hold", str(args.hold)])
    growth = big["peak"] - big["before"]
    stream_limit = events * (size + 2) + 4096
    bound = streams * (stream_limit + size) / MiB
    allowance = streams * per_stream_kib / 1024
    assert big["received"] >= streams * events * (size - 200), "streams were cut short"
    print(f"per-stream fixed cost (tiny events): {per_stream_kib:.0f} KiB")
    print(f"client RSS before the streams: {big['before']:.0f} MiB, peak: {big['peak']:.0f} MiB, "
          f"growth: {growth:.0f} MiB")
    print(f"documented worst case: streams x (SizeLimits.stream + SizeLimits.event) = "
          f"{streams} x ({stream_limit / MiB:.2f} + {size / MiB:.2f}) MiB = {bound:.0f} MiB, "
          f"+ {allowance:.0f} MiB fixed = {bound + allowance:.0f} MiB")
    print(f"measured / worst case: {growth / (bound + allowance):.2f}")
    default = SizeLimits()
    per_stream = (default.stream + default.event) / MiB
    print(f"(with the default limits, {streams} streams: {streams} x {per_stream:.0f} MiB = "
          f"{streams * per_stream / 1024:.1f} GiB worst case; at the default max_concurrency "
          f"of 100: {100 * per_stream:.0f} MiB)")
    ok = growth <= bound + allowance
    print(f"{'PASS' if ok else 'FAIL'}  peak growth within the documented worst case "
          f"({time.perf_counter() - started:.0f} s)")
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())

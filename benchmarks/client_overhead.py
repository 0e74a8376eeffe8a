"""Client CPU per streamed chunk and per request: aiovertexchat against its peers, in one run.

Why it is measured this way:
- The server (the project's emulator, itl=0) runs in a *subprocess*, so its CPU is not counted.
- `time.process_time()` in this process counts only client work (parsing, event loop, sockets),
  not time spent waiting for the server; wall-clock would mix in server speed and machine noise.
- Every contender runs the same workload against the same server, each measured three times
  after a warm-up; the median is reported, with ratios against aiovertexchat.

Run: `./dev bench` (or `python benchmarks/client_overhead.py --quick`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import msgspec
import orjson

MODEL = "google/gemini-2.5-flash"
Workload = Callable[[str, int, int, int], Awaitable[int]]  # (base_url, requests, tokens, conc)


def _messages(i: int, tokens: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"benchmark request {i} [[tokens={tokens}]]"}]


async def _fan_out(requests: int, concurrency: int, one: Callable[[int], Awaitable[int]]) -> int:
    """Run `one(i)` for every i with at most `concurrency` at once; sum what they return."""
    queue = iter(range(requests))
    total = 0

    async def worker() -> None:
        nonlocal total
        for i in queue:
            done = await one(i)  # not `total += await ...`: that reads `total` before awaiting
            total += done

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total


# -- contenders: streaming -------------------------------------------------------------------
async def ours_stream(base_url: str, requests: int, tokens: int, concurrency: int) -> int:
    from aiovertexchat import AsyncVertexChat

    async with AsyncVertexChat(base_url=base_url, api_key="k", max_connections=concurrency) as c:

        async def one(i: int) -> int:
            n = 0
            stream = await c.chat.completions.create(
                model=MODEL, messages=_messages(i, tokens), stream=True
            )
            async for chunk in stream:
                if chunk.choices[0].delta.content is not None:
                    n += 1
            return n

        return await _fan_out(requests, concurrency, one)


async def _openai_stream(client: Any, requests: int, tokens: int, concurrency: int) -> int:
    async def one(i: int) -> int:
        n = 0
        stream = await client.chat.completions.create(
            model=MODEL, messages=_messages(i, tokens), stream=True
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content is not None:
                n += 1
        return n

    async with client:
        return await _fan_out(requests, concurrency, one)


async def openai_stream(base_url: str, requests: int, tokens: int, concurrency: int) -> int:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0)
    return await _openai_stream(client, requests, tokens, concurrency)


async def openai_aiohttp_stream(base_url: str, requests: int, tokens: int, conc: int) -> int:
    import openai

    client = openai.AsyncOpenAI(
        base_url=base_url, api_key="k", max_retries=0, http_client=openai.DefaultAioHttpClient()
    )
    return await _openai_stream(client, requests, tokens, conc)


def _body(i: int, tokens: int, stream: bool) -> bytes:
    return orjson.dumps({"model": MODEL, "messages": _messages(i, tokens), "stream": stream})


_HEADERS = {"Authorization": "Bearer k", "Content-Type": "application/json"}


async def aiohttp_lines_stream(base_url: str, requests: int, tokens: int, conc: int) -> int:
    """The loop people write by hand: readline per SSE line, orjson per payload."""
    url = base_url + "/chat/completions"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as session:

        async def one(i: int) -> int:
            n = 0
            async with session.post(url, data=_body(i, tokens, True), headers=_HEADERS) as resp:
                async for line in resp.content:
                    if not line.startswith(b"data: "):
                        continue
                    payload = line[6:].strip()
                    if payload == b"[DONE]":
                        break
                    chunk = orjson.loads(payload)
                    if chunk["choices"][0]["delta"].get("content") is not None:
                        n += 1
            return n

        return await _fan_out(requests, conc, one)


class _Delta(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    delta: _Delta


class _Chunk(msgspec.Struct):
    choices: list[_Choice]


async def aiohttp_buffer_stream(base_url: str, requests: int, tokens: int, conc: int) -> int:
    """A floor: whole buffers split on blank lines, decoded into a three-field Struct.

    It skips everything a real client must do (WHATWG line endings, errors, accumulation,
    timestamps), so it is a lower bound, not a peer.
    """
    url = base_url + "/chat/completions"
    decode = msgspec.json.Decoder(_Chunk).decode
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as session:

        async def one(i: int) -> int:
            n = 0
            rest = b""
            async with session.post(url, data=_body(i, tokens, True), headers=_HEADERS) as resp:
                async for data in resp.content.iter_any():
                    events = (rest + data).split(b"\n\n")
                    rest = events.pop()
                    for event in events:
                        payload = event[6:]
                        if payload == b"[DONE]":
                            continue
                        if decode(payload).choices[0].delta.content is not None:
                            n += 1
            return n

        return await _fan_out(requests, conc, one)


# -- contenders: non-streaming ---------------------------------------------------------------
async def ours_plain(base_url: str, requests: int, tokens: int, concurrency: int) -> int:
    from aiovertexchat import AsyncVertexChat

    async with AsyncVertexChat(base_url=base_url, api_key="k", max_connections=concurrency) as c:

        async def one(i: int) -> int:
            completion = await c.chat.completions.create(model=MODEL, messages=_messages(i, tokens))
            return 1 if completion.choices[0].message.content else 0

        return await _fan_out(requests, concurrency, one)


async def _openai_plain(client: Any, requests: int, tokens: int, concurrency: int) -> int:
    async def one(i: int) -> int:
        completion = await client.chat.completions.create(
            model=MODEL, messages=_messages(i, tokens)
        )
        return 1 if completion.choices[0].message.content else 0

    async with client:
        return await _fan_out(requests, concurrency, one)


async def openai_plain(base_url: str, requests: int, tokens: int, concurrency: int) -> int:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0)
    return await _openai_plain(client, requests, tokens, concurrency)


async def openai_aiohttp_plain(base_url: str, requests: int, tokens: int, conc: int) -> int:
    import openai

    client = openai.AsyncOpenAI(
        base_url=base_url, api_key="k", max_retries=0, http_client=openai.DefaultAioHttpClient()
    )
    return await _openai_plain(client, requests, tokens, conc)


async def aiohttp_plain(base_url: str, requests: int, tokens: int, conc: int) -> int:
    url = base_url + "/chat/completions"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conc)) as session:

        async def one(i: int) -> int:
            async with session.post(url, data=_body(i, tokens, False), headers=_HEADERS) as resp:
                body = orjson.loads(await resp.read())
            return 1 if body["choices"][0]["message"]["content"] else 0

        return await _fan_out(requests, conc, one)


STREAMING: dict[str, Workload] = {
    "aiovertexchat": ours_stream,
    "openai.AsyncOpenAI": openai_stream,
    "openai.AsyncOpenAI+aiohttp": openai_aiohttp_stream,
    "aiohttp lines+orjson": aiohttp_lines_stream,
    "aiohttp buffer+msgspec (floor)": aiohttp_buffer_stream,
}
PLAIN: dict[str, Workload] = {
    "aiovertexchat": ours_plain,
    "openai.AsyncOpenAI": openai_plain,
    "openai.AsyncOpenAI+aiohttp": openai_aiohttp_plain,
    "aiohttp+orjson": aiohttp_plain,
}


# -- harness ---------------------------------------------------------------------------------
def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiovertexchat", "emulator", "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "base URL:" not in line:
        proc.kill()
        raise RuntimeError(f"the emulator did not start: {line!r}")
    return proc, line.rsplit("base URL:", 1)[1].strip()


def measure(work: Workload, base_url: str, requests: int, tokens: int, conc: int,
            repeats: int) -> tuple[float, int]:
    """Median client CPU seconds over `repeats` runs (after one warm-up), and the unit count."""
    asyncio.run(work(base_url, max(2, requests // 10), tokens, conc))  # warm-up: imports, pools
    cpu: list[float] = []
    units = 0
    for _ in range(repeats):
        started = time.process_time()
        units = asyncio.run(work(base_url, requests, tokens, conc))
        cpu.append(time.process_time() - started)
    return statistics.median(cpu), units


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller workload (~30 s)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    scale = 4 if args.quick else 1
    stream_requests, stream_tokens = 200 // scale, 200
    plain_requests, concurrency, repeats = 2000 // scale, 8, 3

    proc, base_url = start_server()
    results: dict[str, dict[str, float]] = {"stream_us_per_chunk": {}, "plain_us_per_request": {}}
    try:
        print(f"server: emulator subprocess at {base_url}; client CPU via process_time, "
              f"median of {repeats}")
        print(f"streaming: {stream_requests} requests x {stream_tokens} chunks, "
              f"concurrency {concurrency}")
        for name, work in STREAMING.items():
            cpu, chunks = measure(work, base_url, stream_requests, stream_tokens, concurrency,
                                  repeats)
            if chunks != stream_requests * stream_tokens:
                raise RuntimeError(f"{name} saw {chunks} chunks, expected "
                                   f"{stream_requests * stream_tokens}")
            results["stream_us_per_chunk"][name] = cpu / chunks * 1e6
        print(f"non-streaming: {plain_requests} requests, concurrency {concurrency}")
        for name, work in PLAIN.items():
            cpu, done = measure(work, base_url, plain_requests, 16, concurrency, repeats)
            if done != plain_requests:
                raise RuntimeError(f"{name} completed {done} of {plain_requests}")
            results["plain_us_per_request"][name] = cpu / done * 1e6
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

    for key, unit in (("stream_us_per_chunk", "µs CPU/chunk"),
                      ("plain_us_per_request", "µs CPU/request")):
        ours = results[key]["aiovertexchat"]
        print(f"\n{'contender':<34}{unit:>16}{'vs ours':>10}")
        for name, value in results[key].items():
            print(f"{name:<34}{value:>16.2f}{value / ours:>9.2f}x")

    stream, plain = results["stream_us_per_chunk"], results["plain_us_per_request"]
    checks = [
        ("streaming: >= 10x less CPU/chunk than AsyncOpenAI",
         stream["openai.AsyncOpenAI"] / stream["aiovertexchat"] >= 10),
        ("streaming: <= hand-written aiohttp line loop",
         stream["aiovertexchat"] <= stream["aiohttp lines+orjson"]),
        ("non-streaming: >= 5x less CPU/request than AsyncOpenAI",
         plain["openai.AsyncOpenAI"] / plain["aiovertexchat"] >= 5),
    ]
    print()
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return 1 if args.strict and not all(ok for _, ok in checks) else 0


if __name__ == "__main__":
    sys.exit(main())

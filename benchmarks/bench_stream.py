"""Per-chunk cost of `ChatStream` iteration, with and without thought separation.

Run: .venv/bin/python benchmarks/bench_stream.py [--chunks N] [--repeat R]

Feeds a stream of typical chunk events from memory (no sockets) through `ChatStream` — SSE
decoding, msgspec decoding, accumulation, metrics — and prints microseconds per chunk (best
of R runs) for: plain text (the fast path every stream takes unless thoughts can arrive), the
same text with a `thought_tag_marker` hook installed, and text that really carries
`<think>…</think>` tags. To compare against another checkout, run this file with that
checkout first on PYTHONPATH (the thought cases are skipped where the hook does not exist).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

try:
    from aiovertexchat._http.stream import ChatStream, StreamMetrics
except ImportError:  # a checkout from before the layer move (see before_after.py)
    from aiovertexchat.stream import ChatStream, StreamMetrics  # type: ignore[no-redef]


class _MemoryResponse:
    """Just enough of `transport.Response` for `ChatStream`."""

    def __init__(self, reads: list[bytes]) -> None:
        self._reads = reads
        self._next = 0
        self.headers: dict[str, str] = {}

    async def read_chunk(self) -> bytes:
        if self._next >= len(self._reads):
            return b""
        data = self._reads[self._next]
        self._next += 1
        return data

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


def make_reads(n: int, tagged: bool) -> list[bytes]:
    words = ["Hello", " there", ",", " how", " can", " I", " help", " you", " today", "?"]
    events = []
    for i in range(n):
        text = words[i % len(words)]
        if tagged and i == 0:
            text = "<think>" + text
        if tagged and i == n // 2:
            text = text + "</think>"
        chunk: dict[str, Any] = {
            "id": "chatcmpl-8f2c1d7e9a",
            "object": "chat.completion.chunk",
            "created": 1732332000,
            "model": "google/gemini-2.5-flash",
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": text},
                    "finish_reason": "stop" if i == n - 1 else None,
                }
            ],
        }
        events.append(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    # ~4 KiB network reads, cutting events anywhere, as a socket would.
    data = b"".join(events)
    return [data[i : i + 4096] for i in range(0, len(data), 4096)]


def thought_hook() -> Callable[[Any], None] | None:
    try:
        from aiovertexchat._protocol.thoughts import ChunkThoughtSeparator
    except ImportError:
        try:
            from aiovertexchat.thoughts import (  # type: ignore[no-redef]
                ChunkThoughtSeparator,
            )
        except ImportError:
            return None
    return ChunkThoughtSeparator("think")


async def run(reads: list[bytes], hook: Callable[[Any], None] | None) -> int:
    stream = ChatStream(
        _MemoryResponse(reads),  # type: ignore[arg-type]
        metrics=StreamMetrics(started_at=time.perf_counter()),
        request_id=None,
        new_chunk_hook=None if hook is None else (lambda: hook),
    )
    count = 0
    async for _ in stream:
        count += 1
    return count


def best(reads: list[bytes], hook_factory: Callable[[], Any], repeat: int, n: int) -> float:
    best_time = float("inf")
    for _ in range(repeat):
        hook = hook_factory()
        start = time.perf_counter()
        assert asyncio.run(run(reads, hook)) == n
        best_time = min(best_time, time.perf_counter() - start)
    return best_time / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    n = args.chunks
    plain = make_reads(n, tagged=False)
    tagged = make_reads(n, tagged=True)
    print(f"{n} chunks per stream, best of {args.repeat} runs (us per chunk)")
    base = best(plain, lambda: None, args.repeat, n)
    print(f"{'plain text, fast path':<40} {base:8.3f}")
    if thought_hook() is None:
        print("(no thought separation in this checkout)")
        return
    marker = best(plain, thought_hook, args.repeat, n)
    print(f"{'plain text, marker hook installed':<40} {marker:8.3f}  ({marker / base:.2f}x)")
    split = best(tagged, thought_hook, args.repeat, n)
    print(f"{'tagged text, marker hook installed':<40} {split:8.3f}  ({split / base:.2f}x)")


if __name__ == "__main__":
    main()

"""Time `aiovertexchat.sse.SSEDecoder.feed` against httpx-sse on the same bytes.

Run: .venv/bin/python benchmarks/bench_sse.py [--events N] [--repeat R]

Prints microseconds per event (best of R runs) for several ways of cutting a stream of typical
chat.completion.chunk events into reads, and httpx-sse's time divided by ours. httpx-sse is
driven as its `aiter_sse` drives itself: incremental UTF-8 decoding, `SSELineDecoder`, then
`SSEDecoder.decode` per line.
"""

from __future__ import annotations

import argparse
import codecs
import json
import time
from collections.abc import Callable, Sequence

from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder
from httpx_sse._decoders import SSELineDecoder

from aiovertexchat._protocol.sse import SSEDecoder


def make_events(n: int, line_end: bytes = b"\n") -> list[bytes]:
    """`n` encoded events shaped like Vertex's OpenAI-compatible stream chunks (~250-300 B)."""
    words = ["Hello", " there", ",", " how", " can", " I", " help", " you", " today", "?", " é"]
    out = []
    for i in range(n):
        chunk = {
            "id": "chatcmpl-8f2c1d7e9a",
            "object": "chat.completion.chunk",
            "created": 1732332000 + i // 50,
            "model": "google/gemini-2.0-flash-001",
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": words[i % len(words)] * (1 + i % 3)},
                    "finish_reason": None,
                }
            ],
        }
        body = json.dumps(chunk, separators=(",", ":"), ensure_ascii=False).encode()
        out.append(b"data: " + body + line_end + line_end)
    return out


def group(events: Sequence[bytes], per_feed: int) -> list[bytes]:
    return [b"".join(events[i : i + per_feed]) for i in range(0, len(events), per_feed)]


def cut(stream: bytes, size: int) -> list[bytes]:
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def run_ours(chunks: Sequence[bytes]) -> int:
    decoder = SSEDecoder()
    feed = decoder.feed
    count = 0
    for chunk in chunks:
        count += len(feed(chunk))
    decoder.end()
    return count


def run_httpx_sse(chunks: Sequence[bytes]) -> int:
    text_decoder = codecs.getincrementaldecoder("utf-8")("replace")
    lines = SSELineDecoder()
    decoder = HttpxSSEDecoder()
    count = 0
    for chunk in chunks:
        for line in lines.decode(text_decoder.decode(chunk)):
            if decoder.decode(line) is not None:
                count += 1
    return count


def best_time(fn: Callable[[Sequence[bytes]], int], chunks: Sequence[bytes], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(chunks)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="events per stream")
    parser.add_argument("--repeat", type=int, default=7, help="runs per case; best one counts")
    args = parser.parse_args()
    n: int = args.events
    lf = make_events(n)
    crlf = make_events(n, b"\r\n")
    small = lf[:200]  # 1-byte feeds are slow by nature: keep that stream short
    cases: list[tuple[str, list[bytes], int]] = [
        ("1 event per feed", lf, n),
        ("10 events per feed", group(lf, 10), n),
        ("1-byte feeds, 200 events", cut(b"".join(small), 1), len(small)),
        ("1 event per feed, CRLF", crlf, n),
        ("4 KiB reads cutting events", cut(b"".join(lf), 4096), n),
    ]
    print(f"average event: {sum(map(len, lf)) / n:.0f} bytes; best of {args.repeat} runs\n")
    print(f"{'case':<28} {'ours us/ev':>11} {'httpx-sse us/ev':>16} {'httpx-sse/ours':>15}")
    for name, chunks, events in cases:
        assert run_ours(chunks) == run_httpx_sse(chunks) == events, name
        ours = best_time(run_ours, chunks, args.repeat) / events * 1e6
        theirs = best_time(run_httpx_sse, chunks, args.repeat) / events * 1e6
        print(f"{name:<28} {ours:>11.3f} {theirs:>16.3f} {theirs / ours:>14.1f}x")


if __name__ == "__main__":
    main()

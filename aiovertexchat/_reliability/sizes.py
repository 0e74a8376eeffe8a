"""`SizeLimits`: a ceiling on every byte of an answer the client accepts.

All three count *decoded* bytes, after any `Content-Encoding` is undone, so a small compressed
body cannot expand past them: aiohttp inflates in bounded steps as the body is read, and the
read stops at the limit.

- `body`: a non-streamed answer (a `Content-Length` above it is refused before reading).
- `event`: one server-sent event of a stream (its data lines plus the line being read).
- `stream`: everything one streamed attempt receives (what a stream holds in memory is part of
  it: the events being decoded and the accumulated `stream.completion`).

Past a limit the call raises `ResponseTooLargeError` (`.limit_name` "body", "event" or
"stream", `.limit`, and `.partial` for streams); it is not retried.

Why these defaults: the longest answers Gemini produces (65,536 output tokens, with reasoning)
are around 0.5 MB of text, plus a few hundred bytes of JSON per event; 8 MiB is ten times
that. One event carries a few tokens (a tool call's arguments at most), so 1 MiB is ample.

Worst case: an open stream holds at most what it received (`stream`) plus one event on its way
to the caller, so a client holds at most max_concurrency x (stream + event) for its answers:
100 x 9 MiB = 900 MiB at the default `max_concurrency`. `benchmarks/stream_memory.py` measures
it with 1,000 concurrent streams fed events of the largest accepted size.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MiB", "SizeLimits"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class SizeLimits:
    """Bytes (decoded); see the module documentation. Defaults: body 8 MiB, event 1 MiB,
    stream 8 MiB."""

    body: int = 8 * MiB
    event: int = 1 * MiB
    stream: int = 8 * MiB

    def __post_init__(self) -> None:
        for name in ("body", "event", "stream"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SizeLimits.{name} must be a positive number of bytes, not "
                                 f"{value!r}")


def describe_size(limit: int) -> str:
    """A byte count as people read it: "8 MiB", "1536 KiB", "100 bytes"."""
    if limit % MiB == 0:
        return f"{limit // MiB} MiB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit:,} bytes"

"""Trace replay: requests sent at the arrival times a production trace recorded.

`--trace FILE.jsonl` reads one request per line with the fields of public production traces
such as Mooncake's:
- `timestamp`: arrival time in milliseconds (any origin; the first request is sent at 0);
- `input_length`: prompt tokens; `output_length`: answer tokens (sent as `max_tokens`);
- `hash_ids` (optional): the ids of the prompt's prefix blocks of `--trace-block-tokens`
  tokens (Mooncake: 512). Blocks with the same id get the same text, so requests that shared a
  prefix in production share it here and prefix caches see the recorded reuse.
Lines are replayed in timestamp order; `--trace-speed S` divides every gap by S (2 = twice as
fast). Every bad line is reported with its number.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .datasets import DatasetError

__all__ = ["TraceEntry", "load_trace", "trace_offsets"]


@dataclass(frozen=True)
class TraceEntry:
    timestamp_ms: float
    input_length: int
    output_length: int
    hash_ids: tuple[int, ...] = ()


def _count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"{name} must be a whole number")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}")
    return int(value)


def _entry(raw: Any) -> TraceEntry:
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object")
    missing = [k for k in ("timestamp", "input_length", "output_length") if k not in raw]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    stamp = raw["timestamp"]
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or stamp < 0:
        raise ValueError("timestamp must be a number of milliseconds >= 0")
    hash_ids = raw.get("hash_ids", [])
    if not isinstance(hash_ids, list) or not all(
            isinstance(h, int) and not isinstance(h, bool) for h in hash_ids):
        raise ValueError("hash_ids must be a list of integers")
    return TraceEntry(float(stamp), _count(raw["input_length"], "input_length", 1),
                      _count(raw["output_length"], "output_length", 1), tuple(hash_ids))


def load_trace(path: str | Path) -> list[TraceEntry]:
    """Read a trace file, sorted by timestamp; DatasetError lists every bad line."""
    entries: list[TraceEntry] = []
    problems: list[tuple[int, str]] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                entries.append(_entry(json.loads(line)))
            except json.JSONDecodeError as exc:
                problems.append((number, f"not JSON ({exc.msg})"))
            except ValueError as exc:
                problems.append((number, str(exc)))
    if problems:
        raise DatasetError(str(path), problems)
    if not entries:
        raise ValueError(f"{path}: no requests in the trace")
    return sorted(entries, key=lambda e: e.timestamp_ms)


def trace_offsets(entries: Sequence[TraceEntry], speed: float = 1.0) -> list[float]:
    """Send offsets in seconds from the first request, gaps divided by `speed`."""
    if not speed > 0:
        raise ValueError(f"trace speed must be > 0, got {speed}")
    if not entries:
        return []
    first = entries[0].timestamp_ms
    return [(e.timestamp_ms - first) / 1000.0 / speed for e in entries]

"""Output and errors files as append-only journals: durable groups, torn-line repair, ids.

Why this is enough for exactly-once: one process writes a journal (an exclusive `flock` on
each file keeps a second run of the same job out), and only whole lines ending in `\\n` are
appended. A run killed mid-write can leave at most one torn line, at the very end; `repair()`
cuts it off before anything reads the file, so that item simply runs again. Data handed to
`write()` survives a `kill -9` (it is in the OS page cache); `fsync` in small groups bounds
what a power loss could take. An item counts as recorded only once its group is fsync'd.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import msgspec

from ..errors import JournalCorruptError, JournalLockedError

__all__ = [
    "FlushPolicy",
    "Journal",
    "JournalCorruptError",
    "JournalLockedError",
    "read_ids",
    "repair",
    "rewrite_without",
]

T = TypeVar("T")

# How far back repair() reads at a time when looking for the last newline.
_SCAN_BLOCK = 64 * 1024


@dataclass(frozen=True)
class FlushPolicy:
    """When pending lines must be written and fsync'd: `max_lines` pending, or the oldest
    pending line waiting `max_delay` seconds. Sans-IO: the caller passes `now`."""

    max_lines: int = 128
    max_delay: float = 0.25

    def __post_init__(self) -> None:
        if self.max_lines < 1:
            raise ValueError("max_lines must be >= 1")
        if not self.max_delay >= 0:
            raise ValueError("max_delay must be >= 0")

    def due(self, pending: int, oldest_at: float | None, now: float) -> bool:
        if pending <= 0 or oldest_at is None:
            return False
        return pending >= self.max_lines or now - oldest_at >= self.max_delay

    def deadline(self, oldest_at: float | None) -> float | None:
        """When the pending group must be flushed at the latest; None when nothing pends."""
        return None if oldest_at is None else oldest_at + self.max_delay


def repair(path: str | Path) -> int:
    """Cut a torn last line (one not ending in a newline); return how many bytes were cut."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return 0
    try:
        size = os.fstat(fd).st_size
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return 0
        end = size
        keep = 0
        while end > 0:
            start = max(0, end - _SCAN_BLOCK)
            newline = os.pread(fd, end - start, start).rfind(b"\n")
            if newline >= 0:
                keep = start + newline + 1
                break
            end = start
        os.ftruncate(fd, keep)
        os.fsync(fd)
        return size - keep
    finally:
        os.close(fd)


class _IdOnly(msgspec.Struct):
    custom_id: str


_id_decoder = msgspec.json.Decoder(_IdOnly)


def _record_id(path: str | Path, number: int, raw: bytes) -> str:
    try:
        return _id_decoder.decode(raw).custom_id
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise JournalCorruptError(
            f"{path}:{number}: not a batch record ({exc}); the file was changed by something "
            "other than this tool. Fix or remove that line, then rerun."
        ) from None


def read_ids(path: str | Path) -> Iterator[str]:
    """The custom_id of every line of a (repaired) journal; a missing file has none.

    Raises `JournalCorruptError` naming the line when one is not a batch record: guessing
    would risk losing or repeating work.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115 - the with below closes it
    except FileNotFoundError:
        return
    with handle:
        for number, raw in enumerate(handle, 1):
            if raw.strip():
                yield _record_id(path, number, raw)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def rewrite_without(path: str | Path, drop: Callable[[str], bool]) -> int:
    """Atomically rewrite a journal without the lines whose custom_id `drop` accepts.

    The kept lines go to a temporary file beside it, which is fsync'd and renamed over the
    original: a crash at any point leaves either the old file or the new one, never a mix.
    Returns how many lines were dropped.
    """
    path = Path(path)
    if not path.exists():
        return 0
    temp = path.with_name(path.name + ".rewrite-tmp")
    dropped = 0
    with open(path, "rb") as source, open(temp, "wb") as target:
        for number, raw in enumerate(source, 1):
            if raw.strip() and drop(_record_id(path, number, raw)):
                dropped += 1
            else:
                target.write(raw)
        target.flush()
        os.fsync(target.fileno())
    if dropped:
        os.replace(temp, path)
        _fsync_dir(path.parent)
    else:
        temp.unlink()
    return dropped


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Journal(Generic[T]):
    """An append-only JSONL file written in durable groups.

    `append(line, item, now)` queues a whole line (newline included); `flush()` writes every
    queued line, fsyncs, and returns their items, now durable. One flush runs at a time.
    """

    def __init__(self, path: str | Path, *, lock: bool = True) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if lock:
            self._lock()
        self._pending: list[bytes] = []
        self._items: list[T] = []
        self.oldest_at: float | None = None
        self._flush_lock = asyncio.Lock()
        self.lines_written = 0

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows has no flock: run one job at a time
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise JournalLockedError(
                f"another process is writing {self.path}: let it finish (or stop it) before "
                "running this job again"
            ) from None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def append(self, line: bytes, item: T, now: float) -> None:
        if not line.endswith(b"\n") or b"\n" in line[:-1]:
            raise ValueError("a journal line must be one line ending in a newline")
        if not self._pending:
            self.oldest_at = now
        self._pending.append(line)
        self._items.append(item)

    async def flush(self) -> list[T]:
        """Write and fsync what is queued; return the items that are now durable."""
        async with self._flush_lock:
            lines, items = self._pending, self._items
            if not lines:
                return []
            self._pending, self._items, self.oldest_at = [], [], None
            _write_all(self._fd, b"".join(lines))
            # fsync can take milliseconds: off the event loop, so requests keep flowing.
            await asyncio.to_thread(os.fsync, self._fd)
            self.lines_written += len(lines)
            return items

    def close(self) -> None:
        """Close the file (and release its lock). Lines still queued are not written."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

"""Progress of a running batch: a snapshot (sans-IO text) and three ways to show it.

- `BarReporter`: a live bar on a terminal (rich's when installed, else a `\\r`-redrawn line);
- `LineReporter`: one plain line every `interval` seconds, for logs and pipes;
- `NullReporter`: nothing (`--quiet`).
All write to stderr by default so stdout stays free for the summary.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

__all__ = [
    "BarReporter",
    "LineReporter",
    "NullReporter",
    "ProgressSnapshot",
    "Reporter",
    "make_reporter",
]


@dataclass(frozen=True)
class ProgressSnapshot:
    """Counters at one moment. `total` counts the items this run has to do (skipped excluded)."""

    elapsed: float
    done: int = 0
    total: int | None = None
    failed: int = 0
    skipped: int = 0
    tokens: int = 0
    rate_limited: int = 0
    retries: int = 0
    in_flight: int = 0

    @property
    def rate(self) -> float | None:
        """Items recorded per second since the start."""
        return self.done / self.elapsed if self.elapsed > 0 and self.done else None

    @property
    def eta(self) -> float | None:
        rate = self.rate
        if rate is None or self.total is None:
            return None
        return max(0, self.total - self.done) / rate

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)

    def counters(self) -> str:
        """Everything but done/total, for bar and plain formats alike."""
        rate = self.rate
        parts = [
            f"{rate:,.1f}/s" if rate is not None else "-/s",
            f"tok {self.tokens:,}",
            f"err {self.failed:,}",
            f"429 {self.rate_limited:,}",
            f"retry {self.retries:,}",
            f"in-flight {self.in_flight}",
            f"eta {_clock(self.eta)}",
        ]
        return " · ".join(parts)

    def line(self) -> str:
        """One plain progress line."""
        total = f"/{self.total:,}" if self.total is not None else ""
        fraction = self.fraction
        percent = f" ({fraction:.1%})" if fraction is not None else ""
        skipped = f" · skipped {self.skipped:,}" if self.skipped else ""
        return (
            f"[batch {_clock(self.elapsed)}] {self.done:,}{total}{percent}{skipped} · "
            + self.counters()
        )

    def bar(self, width: int = 30) -> str:
        fraction = self.fraction or 0.0
        filled = int(fraction * width)
        total = f"/{self.total:,}" if self.total is not None else ""
        return f"[{'#' * filled}{'.' * (width - filled)}] {self.done:,}{total} · " + (
            self.counters()
        )


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class Reporter(Protocol):
    period: float
    """How often the job calls `update` (seconds)."""

    def update(self, snapshot: ProgressSnapshot) -> None: ...

    def message(self, text: str) -> None:
        """A one-off line (e.g. "stopping ..."), shown without garbling the bar."""

    def close(self, snapshot: ProgressSnapshot) -> None: ...


class NullReporter:
    period = 1.0

    def update(self, snapshot: ProgressSnapshot) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def close(self, snapshot: ProgressSnapshot) -> None:
        pass


class LineReporter:
    """A plain line every `interval` seconds (the first one after `interval`), and at the end."""

    def __init__(self, stream: TextIO | None = None, interval: float = 10.0) -> None:
        self._stream = stream or sys.stderr
        self.interval = interval
        # Ticks often enough for the interval, never in a busy loop.
        self.period = max(0.01, min(1.0, interval))
        self._last: float = 0.0

    def update(self, snapshot: ProgressSnapshot) -> None:
        if snapshot.elapsed - self._last >= self.interval:
            self._last = snapshot.elapsed
            self._write(snapshot.line())

    def message(self, text: str) -> None:
        self._write(text)

    def close(self, snapshot: ProgressSnapshot) -> None:
        self._write(snapshot.line())

    def _write(self, text: str) -> None:
        print(text, file=self._stream, flush=True)


class _PlainBar:
    """A bar redrawn in place with `\\r`, for terminals without rich."""

    period = 0.2

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._width = 0

    def update(self, snapshot: ProgressSnapshot) -> None:
        self._draw(snapshot.bar())

    def _draw(self, text: str) -> None:
        pad = max(0, self._width - len(text))
        self._stream.write("\r" + text + " " * pad)
        self._stream.flush()
        self._width = len(text)

    def message(self, text: str) -> None:
        self._stream.write("\r" + " " * self._width + "\r" + text + "\n")
        self._width = 0
        self._stream.flush()

    def close(self, snapshot: ProgressSnapshot) -> None:
        self._draw(snapshot.bar())
        self._stream.write("\n")
        self._stream.flush()


class _RichBar:
    """rich's live display (the `rich` extra): a bar with done/total, counters beneath."""

    period = 0.1

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.live import Live

        self._live = Live(console=Console(file=stream), auto_refresh=False, transient=False)
        self._live.start()

    @staticmethod
    def _render(snapshot: ProgressSnapshot) -> Any:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        fraction = snapshot.fraction
        total = f"/{snapshot.total:,}" if snapshot.total is not None else ""
        percent = f" ({fraction:.1%})" if fraction is not None else ""
        row = Table.grid(padding=(0, 1))
        row.add_row(
            ProgressBar(total=snapshot.total or None, completed=snapshot.done, width=30),
            Text(f"{snapshot.done:,}{total}{percent}"),
        )
        return Group(row, Text(snapshot.counters()))

    def update(self, snapshot: ProgressSnapshot) -> None:
        self._live.update(self._render(snapshot), refresh=True)

    def message(self, text: str) -> None:
        self._live.console.print(text, markup=False, highlight=False)

    def close(self, snapshot: ProgressSnapshot) -> None:
        self.update(snapshot)
        self._live.stop()


class BarReporter:
    """A live bar: rich's when the `rich` extra is installed, else a plain redrawn line."""

    def __init__(self, stream: TextIO | None = None, *, use_rich: bool = True) -> None:
        stream = stream or sys.stderr
        impl: _RichBar | _PlainBar | None = None
        if use_rich:
            try:
                impl = _RichBar(stream)
            except ImportError:
                impl = None
        self._impl = impl or _PlainBar(stream)
        self.period = self._impl.period

    def update(self, snapshot: ProgressSnapshot) -> None:
        self._impl.update(snapshot)

    def message(self, text: str) -> None:
        self._impl.message(text)

    def close(self, snapshot: ProgressSnapshot) -> None:
        self._impl.close(snapshot)


def make_reporter(
    mode: str = "auto", *, stream: TextIO | None = None, interval: float = 10.0
) -> Reporter:
    """`auto` (bar on a terminal, lines otherwise), `bar`, `plain`, or `quiet`."""
    stream = stream or sys.stderr
    if mode == "quiet":
        return NullReporter()
    if mode == "auto":
        mode = "bar" if stream.isatty() else "plain"
    if mode == "bar":
        return BarReporter(stream)
    if mode == "plain":
        return LineReporter(stream, interval)
    raise ValueError(f"progress mode must be auto, bar, plain or quiet, not {mode!r}")

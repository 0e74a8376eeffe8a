"""SIGINT/SIGTERM -> a graceful stop of a running job, on the event loop.

The first signal asks the job to stop taking items; the job itself decides when to cancel what
is in flight (after its grace period, or on a second signal). Handlers are removed on exit, so
Ctrl-C behaves normally again afterwards. Where the loop cannot take signal handlers (Windows,
or not the main thread), nothing is installed and Ctrl-C raises KeyboardInterrupt as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator, Sequence

__all__ = ["STOP_SIGNALS", "exit_code_for", "stop_on_signals"]

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


def exit_code_for(signum: int | None) -> int:
    """The shell convention for "ended by a signal": 128 + its number (1 when unknown)."""
    return 128 + signum if signum else 1


@contextlib.contextmanager
def stop_on_signals(
    on_signal: Callable[[int], None], signals: Sequence[signal.Signals] = STOP_SIGNALS
) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in signals:
        try:
            loop.add_signal_handler(sig, on_signal, int(sig))
        except (NotImplementedError, RuntimeError, ValueError):
            continue
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)

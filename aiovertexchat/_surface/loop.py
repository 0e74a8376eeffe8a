"""`LoopThread`: one private event loop in a background thread, for the sync client.

Blocking calls from any thread hand their coroutine to this loop and wait for its result, so a
sync client is safe to share between threads (their calls run concurrently on the loop, under
the same limits) and works from a thread that already runs an event loop of its own (that
thread just waits, as with any blocking call). HTTP-agnostic: it runs whatever it is given.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """Starts its thread at the first `run()`; `stop()` ends it (idempotent)."""

    def __init__(self, name: str = "aiovertexchat-loop") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    def _ensure(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._stopped:
                raise RuntimeError("this client is closed; create a new one")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                # A daemon: a client nobody closed must not keep the interpreter alive.
                thread = threading.Thread(
                    target=self._serve, args=(loop, ready), name=self._name, daemon=True
                )
                thread.start()
                ready.wait()
                self._thread = thread
                self._loop = loop
            return self._loop

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    @property
    def started(self) -> bool:
        return self._loop is not None

    def in_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the loop and wait for its result (or exception). An interrupt while
        waiting (Ctrl-C) cancels it there too."""
        if self._stopped:
            coro.close()
            raise RuntimeError("this client is closed; create a new one")
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError(
                "a sync client was called from its own event loop (e.g. from a callback it "
                "runs); use AsyncVertexChat there"
            )
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure())
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()  # no-op when it finished (with this exception)
            raise

    def call_soon(self, callback: Any, *args: Any) -> None:
        """Schedule `callback(*args)` on the loop, if it runs (from any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)

    def stop(self) -> None:
        """Stop the loop and wait for its thread to end. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if threading.current_thread() is not thread:
            thread.join()

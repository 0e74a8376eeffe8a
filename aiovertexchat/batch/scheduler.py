"""Bounded fan-out: at most N items in flight, pulled lazily from a (sync or async) iterable.

Memory is O(N) whatever the input size: N workers share one iterator and each pulls its next
item only when it is free, and finished results wait in a queue of N slots (a slow consumer
makes workers wait rather than pile results up).

Stopping, in two steps, for graceful shutdown: `stop()` makes workers take no new item and lets
in-flight ones finish; `cancel()` cancels those still running (their items yield nothing). The
result iterator ends once every worker has ended. An exception from the source (a read error,
a failing generator) ends the run: results already finished are yielded first, then it is
raised. The worker function itself is expected to turn item failures into results.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Generic, TypeVar

__all__ = ["BoundedScheduler", "aiter_any"]

T = TypeVar("T")
R = TypeVar("R")

_END = object()


async def aiter_any(source: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[T]:
    """Iterate a sync or async iterable asynchronously; closing this closes the source."""
    if isinstance(source, AsyncIterable):
        iterator = aiter(source)
        try:
            async for item in iterator:
                yield item
        finally:
            # Close an async generator source now (its `finally` releases files), not at GC.
            close = getattr(iterator, "aclose", None)
            if close is not None:
                await close()
    else:
        for item in source:
            yield item


class BoundedScheduler(Generic[T, R]):
    """Runs `work(item)` for every item of `source`, `concurrency` at a time; iterate results.

    Iterate it once: `async for result in scheduler: ...`. Results come in completion order.
    """

    def __init__(
        self,
        source: Iterable[T] | AsyncIterable[T],
        work: Callable[[T], Awaitable[R]],
        *,
        concurrency: int,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self._source = aiter_any(source)
        self._work = work
        self._concurrency = concurrency
        self._pull_lock = asyncio.Lock()
        self._results: asyncio.Queue[object] = asyncio.Queue(maxsize=concurrency)
        self._workers: list[asyncio.Task[None]] = []
        # Workers handing a finished result over: never cancelled, so no paid answer is lost.
        self._handing_over: set[asyncio.Task[None]] = set()
        self._running_workers = 0
        self._stopping = False
        self._exhausted = False
        self._error: BaseException | None = None
        self._started = False
        self.in_flight = 0
        """Items taken from the source whose work has not finished."""
        self.taken = 0
        """Items taken from the source so far."""

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def exhausted(self) -> bool:
        """The source has no more items."""
        return self._exhausted

    def stop(self) -> None:
        """Take no new item; items in flight go on to finish."""
        self._stopping = True

    def cancel(self) -> None:
        """Stop, and cancel the items still in flight (they produce no result).

        Results already finished (waiting for the consumer) are still delivered.
        """
        self._stopping = True
        for task in self._workers:
            if task not in self._handing_over:
                task.cancel()

    async def _next_item(self) -> tuple[bool, T | None]:
        async with self._pull_lock:
            if self._stopping or self._exhausted:
                return False, None
            try:
                item = await self._source.__anext__()
            except StopAsyncIteration:
                self._exhausted = True
                return False, None
            self.taken += 1
            self.in_flight += 1
            return True, item

    async def _worker(self) -> None:
        while True:
            got, item = await self._next_item()
            if not got:
                return
            try:
                result = await self._work(item)  # type: ignore[arg-type]
            finally:
                self.in_flight -= 1
            task = asyncio.current_task()
            assert task is not None
            self._handing_over.add(task)
            try:
                await self._results.put(result)
            finally:
                self._handing_over.discard(task)

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and self._error is None:
            self._error = task.exception()
            self._stopping = True
        self._running_workers -= 1
        if self._running_workers == 0 and not self._results.full():
            # Wakes a consumer waiting on an empty queue. With a full queue the consumer is not
            # waiting, and sees that every worker has ended once it has drained the queue.
            self._results.put_nowait(_END)

    def __aiter__(self) -> AsyncIterator[R]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[R]:
        if self._started:
            raise RuntimeError("a BoundedScheduler can be iterated only once")
        self._started = True
        for _ in range(self._concurrency):
            task = asyncio.ensure_future(self._worker())
            self._running_workers += 1
            task.add_done_callback(self._worker_done)
            self._workers.append(task)
        try:
            while self._running_workers or not self._results.empty():
                item = await self._results.get()
                if item is not _END:
                    yield item  # type: ignore[misc]
            if self._error is not None:
                raise self._error
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Cancel whatever still runs and wait for it; close the source."""
        self._stopping = True
        pending = [t for t in self._workers if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await self._source.aclose()  # type: ignore[attr-defined]

"""What the engine integrations share: one item -> one output record, and a client that owns
its event-loop thread for engines that call us from plain threads (Beam).

Only public API is used here: `AsyncVertexChat`, and the batch package's input checks
(`coerce_request`), runner (`execute_request`) and record format (`BatchResult.to_record`), so
a record written by an engine is byte-for-byte the kind the `batch` CLI writes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import Any, TypeVar

import msgspec

from ..batch import BatchResult, InputProblem, InvalidRequestError, coerce_request, execute_request
from ..client import AsyncVertexChat

__all__ = [
    "ClientFactory",
    "LoopThread",
    "ThrottleMeter",
    "WorkerClient",
    "complete_item",
    "make_factory",
]

_T = TypeVar("_T")
ClientFactory = Callable[[], AsyncVertexChat]

# Seconds between two looks at the client's queues when measuring time spent throttled.
_THROTTLE_SAMPLE = 0.1
# Seconds a closing client gets to finish on its loop before the thread is left to die.
_CLOSE_TIMEOUT = 30.0


def make_factory(
    client_factory: ClientFactory | None, client_options: Mapping[str, Any]
) -> ClientFactory:
    """`client_factory` itself, or one building `AsyncVertexChat(**client_options)`."""
    if client_factory is not None:
        if client_options:
            raise TypeError("pass either client_factory or client options, not both")
        return client_factory
    options = dict(client_options)
    return lambda: AsyncVertexChat(**options)


def _as_request_item(item: Any) -> Any:
    """Engines hand us dicts, or raw JSONL lines (str/bytes) read from a file."""
    if isinstance(item, (str, bytes, bytearray, memoryview)):
        try:
            return msgspec.json.decode(bytes(item) if not isinstance(item, str) else item)
        except msgspec.DecodeError as exc:
            raise InvalidRequestError(InputProblem(None, f"malformed JSON: {exc}")) from None
    return item


async def complete_item(
    client: AsyncVertexChat,
    item: Any,
    *,
    model: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One request line (a dict, or its JSON text) -> its OpenAI batch output record.

    Never raises `Exception`: a line that cannot be sent, and a request that failed after the
    client's retries, both come back as a record whose `error` is set.
    """
    try:
        request = coerce_request(_as_request_item(item))
    except InvalidRequestError as exc:
        return BatchResult(exc.problem.custom_id, error=exc, model=model).to_record()
    try:
        result = await execute_request(client, request, model=model, options=options)
    except Exception as exc:  # execute_request catches request errors; this is a bug guard
        result = BatchResult(request.custom_id, error=exc, model=model)
    return result.to_record()


class ThrottleMeter:
    """Seconds during which requests were held back by a limit: waiting for a rate-limit slot,
    or queued behind an adaptive concurrency limit that 429s/503s cut below its ceiling.

    This is the time Dataflow's autoscaler should not read as "busy, add workers": more workers
    would only wait too. Sampled every `interval` seconds on the client's loop.
    """

    def __init__(self, client: AsyncVertexChat, *, interval: float = _THROTTLE_SAMPLE) -> None:
        self._client = client
        self._interval = interval
        self._ceiling = 0
        self._seconds = 0.0
        self._reported = 0
        self._lock = threading.Lock()

    def throttled_now(self) -> bool:
        stats = self._client.stats
        limit = stats.concurrency_limit
        if limit is not None:
            self._ceiling = max(self._ceiling, limit)
        cut = limit is not None and limit < self._ceiling
        return stats.waiting_for_rate > 0 or (stats.queued > 0 and cut)

    async def run(self) -> None:
        """Sample until cancelled."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(self._interval)
            now = time.monotonic()
            if self.throttled_now():
                with self._lock:
                    self._seconds += now - last
            last = now

    @property
    def seconds(self) -> float:
        with self._lock:
            return self._seconds

    def take_whole_seconds(self) -> int:
        """Whole seconds not yet taken (Beam's throttling counters count whole seconds)."""
        with self._lock:
            whole = int(self._seconds) - self._reported
            self._reported += whole
            return whole


class LoopThread:
    """An asyncio event loop running on a daemon thread that this object owns."""

    def __init__(self, name: str = "aiovertexchat-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        loop = self.loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def current(self) -> bool:
        """True when called from the loop's own thread (where blocking on it would hang)."""
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float | None = None) -> _T:
        """Run `coro` on the loop and wait for its result from this (other) thread."""
        return self.submit(coro).result(timeout)

    def stop(self, timeout: float = _CLOSE_TIMEOUT) -> None:
        """Stop the loop (cancelling what still runs on it) and wait for the thread."""
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                self.loop.call_soon_threadsafe(self.loop.stop)
            if not self.current:
                self._thread.join(timeout)


class WorkerClient:
    """One `AsyncVertexChat` for a worker process, on a loop thread it owns; any thread may
    submit requests and block on them.

    Built from a factory inside the loop (aiohttp sessions belong to the loop that made them).
    Closed by `close()`, or when the last reference goes away (engines that share a "model"
    per process keep it by weak reference), or at interpreter exit. Weak-referenceable.
    """

    def __init__(
        self,
        factory: ClientFactory,
        *,
        model: str | None = None,
        options: Mapping[str, Any] | None = None,
        name: str = "aiovertexchat-client",
    ) -> None:
        self._model = model
        self._options = dict(options or {})
        self._loop_thread = LoopThread(name)
        try:
            self.client, self.throttle, sampler = self._loop_thread.run(self._start(factory))
        except BaseException:
            self._loop_thread.stop()
            raise
        # The finalizer holds what closing needs, never `self`, so `self` can be collected.
        self._finalizer = weakref.finalize(
            self, _shutdown, self._loop_thread, self.client, sampler
        )

    @staticmethod
    async def _start(
        factory: ClientFactory,
    ) -> tuple[AsyncVertexChat, ThrottleMeter, asyncio.Task[None]]:
        client = factory()
        await client.__aenter__()
        meter = ThrottleMeter(client)
        return client, meter, asyncio.get_running_loop().create_task(meter.run())

    def submit(self, item: Any) -> concurrent.futures.Future[dict[str, Any]]:
        """Start one request line; its future gives the output record (never an error)."""
        return self._loop_thread.submit(
            complete_item(self.client, item, model=self._model, options=self._options)
        )

    def run_all(self, items: Iterable[Any]) -> list[dict[str, Any]]:
        """Send all lines concurrently (under the client's limits); records in input order."""
        futures = [self.submit(item) for item in items]
        return [future.result() for future in futures]

    def call(self, fn: Callable[[AsyncVertexChat], Awaitable[_T]]) -> _T:
        """Run `fn(client)` on the client's loop and wait for it."""

        async def go() -> _T:
            return await fn(self.client)

        return self._loop_thread.run(go())

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Close the client and stop its loop thread. Idempotent."""
        self._finalizer()


def _shutdown(
    loop_thread: LoopThread, client: AsyncVertexChat, sampler: asyncio.Task[None]
) -> None:
    async def close() -> None:
        sampler.cancel()
        await client.aclose()

    if not loop_thread.alive:
        return
    if loop_thread.current:  # collected on the loop itself: close there, without waiting
        task = loop_thread.loop.create_task(close())
        task.add_done_callback(lambda _: loop_thread.loop.stop())
        return
    with contextlib.suppress(Exception):
        loop_thread.run(close(), timeout=_CLOSE_TIMEOUT)
    loop_thread.stop()

"""Running batch items through the client: one item -> one `BatchResult`, and `BatchRun`.

Every item goes through `client.chat.completions.create` (non-streaming), so it gets the
client's auth, limits and retries; this module never reaches around the client. A failing
item becomes a result carrying its error; it never stops the batch.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .parse import BatchRequest, InvalidRequestError, coerce_request
from .result import BatchResult
from .scheduler import BoundedScheduler, aiter_any

if TYPE_CHECKING:
    from ..client import AsyncVertexChat

__all__ = ["DEFAULT_CONCURRENCY", "BatchRun", "execute_request"]

DEFAULT_CONCURRENCY = 64


async def execute_request(
    client: AsyncVertexChat,
    request: BatchRequest,
    *,
    model: str | None = None,
    options: Mapping[str, Any] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> BatchResult:
    """Send one request (non-streaming) and return its result; never raises `Exception`."""
    body = request.body
    chosen = body.get("model") or model
    params = {
        k: v for k, v in body.items() if k not in ("messages", "model", "stream", "extra_body")
    }
    # Vertex reads Gemini extras from a literal top-level `extra_body` key: send it as is.
    extra = {"extra_body": body["extra_body"]} if "extra_body" in body else None
    started = clock()
    try:
        completion = await client.chat.completions.create(
            messages=body["messages"],
            model=chosen,
            extra_body=extra,
            **(options or {}),
            **params,
        )
    except Exception as exc:
        return BatchResult(
            request.custom_id, error=exc, latency=clock() - started, model=chosen,
            line=request.line,
        )
    return BatchResult(
        request.custom_id, completion=completion, latency=clock() - started, model=chosen,
        line=request.line,
    )


class BatchRun:
    """Results of `client.batch(...)` as they complete: `async for result in run: ...`.

    Input is pulled lazily, `concurrency` items at a time, so memory does not grow with the
    input. `stop()` takes no new items and lets in-flight ones finish; `aclose()` (or leaving
    `async with`) cancels what is still running. Items refused before sending (no custom_id,
    bad body) come out as results whose `error` is an `InvalidRequestError`.
    """

    def __init__(
        self,
        client: AsyncVertexChat,
        requests: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        model: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self._client = client
        self._model = model
        self._options = dict(options or {})
        self._scheduler: BoundedScheduler[Any, BatchResult] = BoundedScheduler(
            aiter_any(requests), self._run_one, concurrency=concurrency
        )
        self._results: AsyncIterator[BatchResult] | None = None

    async def _run_one(self, item: Any) -> BatchResult:
        try:
            request = coerce_request(item)
        except InvalidRequestError as exc:
            return BatchResult(exc.problem.custom_id, error=exc, model=self._model)
        return await execute_request(
            self._client, request, model=self._model, options=self._options
        )

    @property
    def in_flight(self) -> int:
        return self._scheduler.in_flight

    @property
    def taken(self) -> int:
        """Items taken from the input so far."""
        return self._scheduler.taken

    @property
    def stopping(self) -> bool:
        return self._scheduler.stopping

    def stop(self) -> None:
        """Take no new items; those in flight finish and are still yielded."""
        self._scheduler.stop()

    def cancel(self) -> None:
        """Stop and cancel in-flight items (they yield nothing); finished ones still come."""
        self._scheduler.cancel()

    def __aiter__(self) -> BatchRun:
        return self

    async def __anext__(self) -> BatchResult:
        if self._results is None:
            self._results = aiter(self._scheduler)
        return await self._results.__anext__()

    async def aclose(self) -> None:
        """Cancel whatever still runs and release the input."""
        if self._results is not None:
            await self._results.aclose()  # type: ignore[attr-defined]
        else:
            await self._scheduler.aclose()

    async def __aenter__(self) -> BatchRun:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

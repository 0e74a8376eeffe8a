"""Running one phase (warm-up or measured) of one load against one client: the I/O part.

Closed loop (`concurrency N`): N workers, each sends its next request as soon as its previous
one ended. Open loop (`rate R`): a dispatcher walks a precomputed timeline and starts each
request at its slot, never waiting for earlier ones; when the dispatcher wakes late, the
overdue requests go out at once and their lateness is recorded as schedule lag.

While a measured phase runs, a sampler task measures event-loop lag (how late a 5 ms sleep
wakes up), and the process CPU time is read at both ends. Before it starts, the garbage
collector runs once and freezes what survives: otherwise full collections over every
long-lived object (modules, the client, earlier records) pause the loop for milliseconds
in the middle of streams, and chunk timestamps would carry that pause. Nothing here computes
statistics: `metrics`, `health` and `stats` do that from the records.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .._redact import redact
from ..client import AsyncVertexChat
from ..errors import APIError, classify_failure
from .arrivals import ArrivalProcess, arrival_offsets
from .metrics import RequestRecord
from .workload import RequestSpec, Workload

__all__ = ["Load", "PhaseResult", "StopRule", "run_phase"]

LOOP_SAMPLE_INTERVAL = 0.005
_INCLUDE_USAGE = {"include_usage": True}
_MAX_ERROR_TEXT = 300


@dataclass(frozen=True)
class Load:
    """A fixed concurrency (closed loop) or an arrival rate in requests/s (open loop)."""

    kind: Literal["concurrency", "rate"]
    value: float
    arrivals: ArrivalProcess = field(default_factory=ArrivalProcess)

    def __post_init__(self) -> None:
        if self.kind == "concurrency" and (self.value < 1 or int(self.value) != self.value):
            raise ValueError(f"concurrency must be a whole number >= 1, got {self.value:g}")
        if self.kind == "rate" and not self.value > 0:
            raise ValueError(f"rate must be > 0 requests/s, got {self.value:g}")

    @classmethod
    def concurrency(cls, n: int) -> Load:
        return cls("concurrency", float(n))

    @classmethod
    def rate(cls, requests_per_second: float, arrivals: ArrivalProcess | None = None) -> Load:
        return cls("rate", float(requests_per_second), arrivals or ArrivalProcess())

    @property
    def label(self) -> str:
        if self.kind == "concurrency":
            return f"c={int(self.value)}"
        return f"{self.value:g}/s {self.arrivals}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "value": self.value}
        if self.kind == "rate":
            out["arrivals"] = str(self.arrivals)
        return out


@dataclass(frozen=True)
class StopRule:
    """Stop after `requests` sends, or after `duration` seconds of sending, whichever first."""

    requests: int | None = None
    duration: float | None = None

    def __post_init__(self) -> None:
        if self.requests is None and self.duration is None:
            raise ValueError("a phase needs a request count or a duration")
        if self.requests is not None and self.requests < 0:
            raise ValueError("the request count must be >= 0")
        if self.duration is not None and not self.duration > 0:
            raise ValueError("the duration must be > 0 seconds")


@dataclass
class PhaseResult:
    records: list[RequestRecord]
    start: float
    end: float
    loop_lags: list[float]
    cpu_fraction: float | None
    peak_in_flight: int


@dataclass
class _Request:
    """What one send needs; built before the request is due."""

    record: RequestRecord
    spec: RequestSpec


class _Phase:
    def __init__(
        self,
        client: AsyncVertexChat,
        *,
        model: str,
        timeout: float | None,
        extra_body: Mapping[str, Any] | None,
        token_counter: Callable[[str], int] | None,
        before_send: Callable[[int], None] | None,
        clock: Callable[[], float],
    ) -> None:
        self.create = client.chat.completions.create
        self.model = model
        self.timeout = timeout
        self.extra_body = extra_body
        self.token_counter = token_counter
        self.before_send = before_send
        self.clock = clock
        self.in_flight = 0
        self.peak_in_flight = 0

    async def send(self, request: _Request) -> None:
        record, spec = request.record, request.spec
        if self.before_send is not None:
            self.before_send(record.index)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await self._exchange(record, spec)
        finally:
            self.in_flight -= 1

    async def _exchange(self, record: RequestRecord, spec: RequestSpec) -> None:
        clock = self.clock
        record.call_at = clock()
        try:
            stream = await self.create(
                model=self.model,
                messages=spec.messages,
                max_tokens=spec.max_tokens,
                stream=True,
                stream_options=_INCLUDE_USAGE,
                extra_body=self.extra_body,
                timeout=self.timeout,
            )
        except APIError as exc:
            record.end_at = clock()
            _failed(record, exc)
            return
        metrics = stream.metrics
        chunk_times = metrics.chunk_times
        token_times = record.token_times
        count = self.token_counter
        counted = 0
        try:
            async with stream:
                async for chunk in stream:
                    # Per chunk: one check; the arrival time is the one the stream recorded.
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta.content or delta.reasoning:
                            token_times.append(chunk_times[-1])
                            if count is not None:
                                counted += count(delta.content or "")
                                counted += count(delta.reasoning or "")
                            break
        except APIError as exc:
            _failed(record, exc)
        record.started_at = metrics.started_at
        record.headers_at = metrics.headers_at
        record.first_chunk_at = metrics.first_chunk_at
        record.first_content_at = metrics.first_content_at
        record.first_reasoning_at = metrics.first_reasoning_at
        record.end_at = metrics.end_at if metrics.end_at is not None else clock()
        record.usage = stream.usage
        record.client_tokens = counted if count is not None else len(token_times)


def _failed(record: RequestRecord, exc: APIError) -> None:
    failure = classify_failure(exc)
    record.error = failure.error_class
    # Written to the CSV/JSONL files: redacted before it is cut (half a secret is still one).
    record.error_message = redact(str(exc))[:_MAX_ERROR_TEXT]
    record.status_code = failure.status


async def _sample_loop_lag(lags: list[float], clock: Callable[[], float]) -> None:
    while True:
        before = clock()
        await asyncio.sleep(LOOP_SAMPLE_INTERVAL)
        lags.append(max(0.0, clock() - before - LOOP_SAMPLE_INTERVAL))


async def run_phase(
    client: AsyncVertexChat,
    *,
    model: str,
    workload: Workload,
    load: Load,
    stop: StopRule,
    salt: str,
    seed: int = 0,
    timeout: float | None = None,
    extra_body: Mapping[str, Any] | None = None,
    token_counter: Callable[[str], int] | None = None,
    before_send: Callable[[int], None] | None = None,
    measure_client: bool = True,
    clock: Callable[[], float] = time.perf_counter,
) -> PhaseResult:
    """Send one phase's requests and return their records (statistics are computed later).

    `clock` must be the clock `StreamMetrics` uses (`time.perf_counter`) outside of tests.
    """
    phase = _Phase(
        client,
        model=model,
        timeout=timeout,
        extra_body=extra_body,
        token_counter=token_counter,
        before_send=before_send,
        clock=clock,
    )
    # Everything a send needs is built before the clock starts: prompt building must not show
    # up as schedule lag, nor delay the first requests.
    plan = _plan(workload, load, stop, salt, seed)
    lags: list[float] = []
    sampler = (
        asyncio.create_task(_sample_loop_lag(lags, clock)) if measure_client else None
    )
    records: list[RequestRecord] = []
    gc.collect()
    gc.freeze()
    cpu_start = time.process_time()
    start = clock()
    try:
        if load.kind == "rate":
            await _open_loop(phase, plan, records, start)
        else:
            await _closed_loop(phase, workload, load, stop, salt, plan, records, start)
    finally:
        gc.unfreeze()
        if sampler is not None:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
    end = clock()
    cpu = (time.process_time() - cpu_start) / (end - start) if end > start else None
    records.sort(key=lambda r: r.index)
    return PhaseResult(
        records=records,
        start=start,
        end=end,
        loop_lags=lags,
        cpu_fraction=cpu if measure_client else None,
        peak_in_flight=phase.peak_in_flight,
    )


@dataclass
class _Plan:
    """Prebuilt requests: all of them with a request count or a timeline, else none."""

    specs: list[RequestSpec] | None
    offsets: list[float] | None


def _plan(workload: Workload, load: Load, stop: StopRule, salt: str, seed: int) -> _Plan:
    if load.kind == "rate":
        offsets = arrival_offsets(
            load.arrivals, load.value, count=stop.requests, duration=stop.duration, seed=seed
        )
        return _Plan([workload.request(i, salt) for i in range(len(offsets))], offsets)
    if stop.requests is not None:
        return _Plan([workload.request(i, salt) for i in range(stop.requests)], None)
    return _Plan(None, None)  # closed loop by duration: prompts are built on demand


async def _run_all(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for every task; on cancellation or error, cancel the rest and wait for them."""
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _open_loop(
    phase: _Phase, plan: _Plan, records: list[RequestRecord], start: float
) -> None:
    assert plan.offsets is not None and plan.specs is not None
    requests = []
    for index, (offset, spec) in enumerate(zip(plan.offsets, plan.specs, strict=True)):
        record = RequestRecord(index, scheduled_at=start + offset, prompt_words=spec.prompt_words)
        records.append(record)
        requests.append(_Request(record, spec))
    tasks: list[asyncio.Task[None]] = []
    clock = phase.clock
    try:
        for request in requests:
            delay = request.record.scheduled_at - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(phase.send(request)))
    except BaseException:
        # Cancelled while dispatching: requests in flight stop now, not when they finish.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    await _run_all(tasks)


async def _closed_loop(
    phase: _Phase,
    workload: Workload,
    load: Load,
    stop: StopRule,
    salt: str,
    plan: _Plan,
    records: list[RequestRecord],
    start: float,
) -> None:
    clock = phase.clock
    counter = itertools.count()
    limit, duration = stop.requests, stop.duration
    prebuilt = plan.specs

    async def worker() -> None:
        free_at = start
        while True:
            if duration is not None and clock() - start >= duration:
                return
            index = next(counter)
            if limit is not None and index >= limit:
                return
            spec = prebuilt[index] if prebuilt is not None else workload.request(index, salt)
            record = RequestRecord(index, scheduled_at=free_at, prompt_words=spec.prompt_words)
            records.append(record)
            await phase.send(_Request(record, spec))
            free_at = clock()

    workers = int(load.value) if limit is None else min(int(load.value), limit)
    await _run_all([asyncio.create_task(worker()) for _ in range(workers)])

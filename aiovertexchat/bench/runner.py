"""Running one phase (warm-up or measured) of one load against one client: the I/O part.

Closed loop (`concurrency N`): N slots, each sends its next request as soon as its previous
one ended (with `ramp_up`, slot s starts s/N of the ramp late). Open loop (`rate R`, or a
trace): a dispatcher walks a precomputed timeline and starts each request at its slot, never
waiting for earlier ones; when the dispatcher wakes late, the overdue requests go out at once
and their lateness is recorded as schedule lag. With sessions (`Workload.turns`), each slot
or arrival is a conversation whose turns follow one another, each sending the whole history.

One process may run only its `Share` of a load (`--workers`): the open-loop requests whose
index falls to it, or its slots of the closed loop; every share computes the same timeline and
starts at the same `start_at` on the machine-wide monotonic clock, so the shares together send
exactly the planned load.

While a measured phase runs, a sampler task measures event-loop lag (how late a 5 ms sleep
wakes up), and the process CPU time is read at both ends. Before it starts, the garbage
collector runs once and freezes what survives: otherwise full collections over every
long-lived object (modules, the client, earlier records) pause the loop for milliseconds
in the middle of streams, and chunk timestamps would carry that pause. Nothing here computes
statistics: `metrics`, `health` and `stats` do that from the records.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .._http.tracing import ConnectionTimings, measuring
from .._redact import redact
from ..client import AsyncVertexChat
from ..errors import APIError, classify_failure
from .arrivals import ArrivalProcess, arrival_offsets
from .metrics import RequestRecord
from .partition import Share
from .trace import trace_offsets
from .workload import RequestSpec, Workload, count_prompt_words, joined_text

__all__ = ["Load", "PhaseResult", "PreparedPhase", "Share", "StopRule", "prepare_phase",
           "run_phase"]

LOOP_SAMPLE_INTERVAL = 0.005
_INCLUDE_USAGE = {"include_usage": True}
_MAX_ERROR_TEXT = 300


@dataclass(frozen=True)
class Load:
    """A fixed concurrency (closed loop), an arrival rate in requests/s (open loop), or a
    trace replayed at a speed factor (open loop on the trace's own timeline)."""

    kind: Literal["concurrency", "rate", "trace"]
    value: float
    arrivals: ArrivalProcess = field(default_factory=ArrivalProcess)

    def __post_init__(self) -> None:
        if self.kind == "concurrency" and (self.value < 1 or int(self.value) != self.value):
            raise ValueError(f"concurrency must be a whole number >= 1, got {self.value:g}")
        if self.kind == "rate" and not self.value > 0:
            raise ValueError(f"rate must be > 0 requests/s, got {self.value:g}")
        if self.kind == "trace" and not self.value > 0:
            raise ValueError(f"trace speed must be > 0, got {self.value:g}")

    @classmethod
    def concurrency(cls, n: int) -> Load:
        return cls("concurrency", float(n))

    @classmethod
    def rate(cls, requests_per_second: float, arrivals: ArrivalProcess | None = None) -> Load:
        return cls("rate", float(requests_per_second), arrivals or ArrivalProcess())

    @classmethod
    def trace(cls, speed: float = 1.0) -> Load:
        """Replay the workload's trace at its recorded times, gaps divided by `speed`."""
        return cls("trace", float(speed))

    @property
    def open_loop(self) -> bool:
        return self.kind != "concurrency"

    @property
    def label(self) -> str:
        if self.kind == "concurrency":
            return f"c={int(self.value)}"
        if self.kind == "trace":
            return f"trace x{self.value:g}"
        return f"{self.value:g}/s {self.arrivals}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "value": self.value}
        if self.kind == "rate":
            out["arrivals"] = str(self.arrivals)
        return out


@dataclass(frozen=True)
class StopRule:
    """Stop after `requests` sends, or after `duration` seconds of sending, whichever first.

    With sessions, `requests` counts conversations (each sends up to its number of turns)."""

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
        think_time: float = 0.0,
        max_turns: int = 1,
        timings: bool = False,
        prompt_counter: Callable[[str], int] | None = None,
    ) -> None:
        self.create = client.chat.completions.create
        self.model = model
        self.timeout = timeout
        self.extra_body = extra_body
        self.token_counter = token_counter
        self.before_send = before_send
        self.clock = clock
        self.think_time = think_time
        self.max_turns = max_turns
        self.timings = timings
        self.prompt_counter = prompt_counter
        self.in_flight = 0
        self.peak_in_flight = 0
        self.deadline: float | None = None

    async def session(self, number: int, spec: RequestSpec, due: float,
                      records: list[RequestRecord]) -> None:
        """Conversation `number`: its turns one after another (one turn: a plain request)."""
        base = number * self.max_turns
        record = RequestRecord(base, scheduled_at=due, prompt_words=spec.prompt_words,
                               prompt_tokens_client=spec.prompt_tokens)
        if spec.turns == 1:
            records.append(record)
            await self.send(record, spec.messages, spec.max_tokens, capture=False)
            return
        record.session, record.turn = number, 1
        records.append(record)
        messages = spec.messages
        answer = await self.send(record, messages, spec.max_tokens, capture=True)
        clock = self.clock
        for turn, (text, max_tokens) in enumerate(spec.followups, 2):
            if not record.ok or record.end_at is None:
                return  # a conversation does not go on past a failed turn
            # The next turn is due one think time after this one's answer ended.
            due = record.end_at + self.think_time
            if self.deadline is not None and due >= self.deadline:
                return
            wait = due - clock()
            if wait > 0:
                await asyncio.sleep(wait)
            messages = [*messages, {"role": "assistant", "content": answer or ""},
                        {"role": "user", "content": text}]
            record = RequestRecord(
                base + turn - 1, scheduled_at=due, session=number, turn=turn,
                prompt_words=count_prompt_words(messages),
                prompt_tokens_client=(None if self.prompt_counter is None
                                      else self.prompt_counter(joined_text(messages))),
            )
            records.append(record)
            answer = await self.send(record, messages, max_tokens, capture=True)

    async def send(self, record: RequestRecord, messages: list[dict[str, Any]],
                   max_tokens: int | None, *, capture: bool) -> str | None:
        if self.before_send is not None:
            self.before_send(record.index)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._exchange(record, messages, max_tokens, capture)
        finally:
            self.in_flight -= 1

    async def _exchange(self, record: RequestRecord, messages: list[dict[str, Any]],
                        max_tokens: int | None, capture: bool) -> str | None:
        clock = self.clock
        timings = None
        record.call_at = clock()
        try:
            with measuring() if self.timings else contextlib.nullcontext() as timings:
                stream = await self.create(
                    model=self.model,
                    messages=messages,
                    max_tokens=max_tokens,
                    stream=True,
                    stream_options=_INCLUDE_USAGE,
                    extra_body=self.extra_body,
                    timeout=self.timeout,
                )
        except APIError as exc:
            record.end_at = clock()
            _failed(record, exc)
            _connection(record, timings)
            return None
        _connection(record, timings)
        metrics = stream.metrics
        chunk_times = metrics.chunk_times
        token_times = record.token_times
        count = self.token_counter
        # Text is kept only when something needs it: the next turn's history, or a counter
        # that reads the whole answer (words, tokenizer tokens).
        keep = capture or count is not None
        content: list[str] = []
        reasoning: list[str] = []
        try:
            async with stream:
                async for chunk in stream:
                    # Per chunk: one check; the arrival time is the one the stream recorded.
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta.content or delta.reasoning:
                            token_times.append(chunk_times[-1])
                            if keep:
                                if delta.content:
                                    content.append(delta.content)
                                if delta.reasoning:
                                    reasoning.append(delta.reasoning)
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
        answer = "".join(content)
        if count is not None:
            record.client_tokens = count(answer) + (count("".join(reasoning)) if reasoning
                                                    else 0)
        else:
            record.client_tokens = len(token_times)
        return answer if capture else None


def _connection(record: RequestRecord, timings: ConnectionTimings | None) -> None:
    if timings is None:
        return
    record.pool_wait_s = timings.pool_wait
    record.dns_s = timings.dns
    record.connect_s = timings.connect
    record.first_byte_s = timings.first_byte
    record.reused_connection = timings.reused
    record.sent_at = timings.headers_sent


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


@dataclass
class PreparedPhase:
    """A phase whose requests are built; `run(start_at)` sends them (`prepare_phase`)."""

    phase: _Phase
    workload: Workload
    load: Load
    stop: StopRule
    salt: str
    share: Share
    ramp_up: float
    measure_client: bool
    specs: dict[int, RequestSpec] | None
    """Prebuilt requests by index (all of this share's, when their number is known)."""
    offsets: dict[int, float] | None
    """Open loop: this share's send offsets by request index."""

    frozen: bool = False

    def freeze(self) -> None:
        """Run the garbage collector and freeze what survives (once, before the start)."""
        if not self.frozen:
            gc.collect()
            gc.freeze()
            self.frozen = True

    def spec(self, index: int) -> RequestSpec:
        if self.specs is not None and index in self.specs:
            return self.specs[index]
        return self.workload.request(index, self.salt)

    async def run(self, start_at: float | None = None) -> PhaseResult:
        """Send the phase; `start_at` (perf_counter seconds) is the common start of every
        share (default: now). Sleeps until then, so every share starts together."""
        clock = self.phase.clock
        lags: list[float] = []
        records: list[RequestRecord] = []
        # Collect before the wait for the start, not after: a collection takes milliseconds
        # that would make the first requests late.
        self.freeze()
        sampler = None
        try:
            if start_at is not None and start_at > clock():
                await asyncio.sleep(start_at - clock())
            if self.measure_client:
                sampler = asyncio.create_task(_sample_loop_lag(lags, clock))
            cpu_start = time.process_time()
            now = clock()
            start = start_at if start_at is not None and start_at <= now else now
            if self.stop.duration is not None:
                self.phase.deadline = start + self.stop.duration
            if self.load.open_loop:
                await self._open_loop(records, start)
            else:
                await self._closed_loop(records, start)
        finally:
            gc.unfreeze()
            self.frozen = False
            if sampler is not None:
                sampler.cancel()
                await asyncio.gather(sampler, return_exceptions=True)
        end = clock()
        cpu_time = time.process_time() - cpu_start
        cpu = cpu_time / (end - now) if end > now else None
        records.sort(key=lambda r: r.index)
        return PhaseResult(
            records=records,
            start=start,
            end=end,
            loop_lags=lags,
            cpu_fraction=cpu if self.measure_client else None,
            peak_in_flight=self.phase.peak_in_flight,
        )

    async def _open_loop(self, records: list[RequestRecord], start: float) -> None:
        assert self.offsets is not None
        phase = self.phase
        clock = phase.clock
        tasks: list[asyncio.Task[None]] = []
        try:
            for index, offset in self.offsets.items():
                due = start + offset
                delay = due - clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(
                    phase.session(index, self.spec(index), due, records)))
        except BaseException:
            # Cancelled while dispatching: requests in flight stop now, not when they finish.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        await _run_all(tasks)

    async def _closed_loop(self, records: list[RequestRecord], start: float) -> None:
        phase = self.phase
        clock = phase.clock
        limit, duration = self.stop.requests, self.stop.duration
        concurrency = int(self.load.value)
        if limit is not None:
            indices: Iterator[int] = iter(self.share.indices(limit))
        else:
            indices = itertools.count(self.share.worker, self.share.workers)
        slots = self.share.slots(concurrency)
        if limit is not None:
            slots = slots[: max(0, len(self.share.indices(limit)))]

        async def slot(number: int) -> None:
            free_at = start + self.ramp_up * number / concurrency
            if free_at > clock():
                await asyncio.sleep(free_at - clock())
            while True:
                if duration is not None and clock() - start >= duration:
                    return
                index = next(indices, None)
                if index is None:
                    return
                await phase.session(index, self.spec(index), free_at, records)
                free_at = clock()

        await _run_all([asyncio.create_task(slot(s)) for s in slots])


def prepare_phase(
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
    share: Share | None = None,
    ramp_up: float = 0.0,
    timings: bool = False,
) -> PreparedPhase:
    """Build this share's requests (everything a send needs, before the clock starts: prompt
    building must not show up as schedule lag, nor delay the first requests)."""
    share = share or Share()
    phase = _Phase(
        client,
        model=model,
        timeout=timeout,
        extra_body=extra_body,
        token_counter=token_counter,
        before_send=before_send,
        clock=clock,
        think_time=workload.think_time,
        max_turns=workload.max_turns,
        timings=timings,
        prompt_counter=workload.tokenizer,
    )
    offsets: dict[int, float] | None = None
    if load.open_loop:
        if load.kind == "trace":
            if workload.trace is None:
                raise ValueError("a trace load needs a workload with a trace")
            timeline = trace_offsets(workload.trace, load.value)
            if stop.requests is not None:
                timeline = timeline[: stop.requests]
            if stop.duration is not None:
                timeline = [t for t in timeline if t < stop.duration]
        else:
            timeline = arrival_offsets(load.arrivals, load.value, count=stop.requests,
                                       duration=stop.duration, seed=seed)
        offsets = {i: timeline[i] for i in share.indices(len(timeline))}
        specs: dict[int, RequestSpec] | None = {
            i: workload.request(i, salt) for i in offsets}
    elif stop.requests is not None:
        specs = {i: workload.request(i, salt) for i in share.indices(stop.requests)}
    else:
        specs = None  # closed loop by duration: prompts are built on demand
    return PreparedPhase(phase, workload, load, stop, salt, share, ramp_up, measure_client,
                         specs, offsets)


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
    ramp_up: float = 0.0,
    timings: bool = False,
) -> PhaseResult:
    """Send one phase's requests and return their records (statistics are computed later).

    `clock` must be the clock `StreamMetrics` uses (`time.perf_counter`) outside of tests.
    """
    prepared = prepare_phase(
        client, model=model, workload=workload, load=load, stop=stop, salt=salt, seed=seed,
        timeout=timeout, extra_body=extra_body, token_counter=token_counter,
        before_send=before_send, measure_client=measure_client, clock=clock, ramp_up=ramp_up,
        timings=timings,
    )
    return await prepared.run()


async def _run_all(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for every task; on cancellation or error, cancel the rest and wait for them."""
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

"""A batch job over files: check the input, resume, run, record each item exactly once.

Order of work, and why:
1. Check the whole input before sending anything. Any bad line (malformed JSON, missing or
   duplicate custom_id, unsupported method/url, bad body) aborts the job with a line-numbered
   report (`BadInputError`): nothing is sent and no file is created, so nothing valid is lost
   or half done, and the fixed file can simply be run again.
2. Lock the output file (one writer per job), then repair a torn last line in the output and
   errors files, so that reading them cannot misread a half-written record.
3. Read the custom_ids already recorded (output: succeeded; errors: failed) into the id index.
4. With `retry_failed`, drop the input's ids from the errors file (an atomic rewrite), so that
   every id is in at most one file at every moment; they then run again like new items.
5. Read the input again, lazily, skipping recorded ids; run items `concurrency` at a time; append
   each result to the output or errors journal; count it once its group is fsync'd.

`request_stop()` (wired to SIGINT/SIGTERM by the CLI) takes no new items, lets those in flight
finish for `grace` seconds, then cancels them; a second call cancels at once. Cancelled items
are not recorded, so a rerun does them.
"""

from __future__ import annotations

import asyncio
import heapq
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._protocol.pricing import PriceTable
from ..errors import BadInputError, JobConfigError, JobStoppedError
from .engine import DEFAULT_CONCURRENCY, execute_request
from .index import ERRORS, OUTPUT, IdIndex
from .journal import FlushPolicy, Journal, read_ids, repair, rewrite_without
from .parse import BatchRequest, InputProblem, parse_line, quote_id
from .progress import NullReporter, ProgressSnapshot, Reporter
from .result import BatchResult
from .scheduler import BoundedScheduler
from .summary import BatchSummary

if TYPE_CHECKING:
    from ..client import AsyncVertexChat

__all__ = [
    "BadInputError",
    "BatchJob",
    "JobConfig",
    "JobConfigError",
    "JobOutcome",
    "JobStoppedError",
    "default_errors_path",
]

# Lines between checks for a stop request while validating (a cheap flag read).
_STOP_CHECK_LINES = 4096
# Bytes of input lines read per thread hop while running.
_READ_BLOCK = 64 * 1024


def default_errors_path(output: Path) -> Path:
    """`out.jsonl` -> `out.errors.jsonl`."""
    name = output.name
    stem = name[: -len(".jsonl")] if name.endswith(".jsonl") else name
    return output.with_name(stem + ".errors.jsonl")


@dataclass
class JobConfig:
    input: Path
    output: Path
    errors: Path | None = None
    """Failed items; default: OUTPUT with `.errors.jsonl` for `.jsonl`."""
    concurrency: int = DEFAULT_CONCURRENCY
    model: str | None = None
    """Model for lines whose body names none."""
    retry_failed: bool = False
    grace: float = 30.0
    """Seconds in-flight items get to finish after a stop request before they are cancelled."""
    flush: FlushPolicy = field(default_factory=FlushPolicy)
    max_reported_problems: int = 50
    options: Mapping[str, Any] = field(default_factory=dict)
    """Per-request options passed to `create()` (e.g. `timeout`)."""

    @property
    def errors_path(self) -> Path:
        return self.errors if self.errors is not None else default_errors_path(self.output)


@dataclass(frozen=True)
class Preparation:
    """What was found before sending anything."""

    total: int
    skipped_succeeded: int
    skipped_failed: int
    retried: int
    """Failed items taken out of the errors file to run again (--retry-failed)."""
    foreign: int
    """Records in output/errors whose custom_id the input does not have."""
    torn: dict[str, int]
    """Bytes cut from a torn last line, by file."""


@dataclass
class JobOutcome:
    state: str
    """`completed`, or `interrupted` when a stop left items not done."""
    summary: BatchSummary
    elapsed: float
    signal: int | None = None

    @property
    def remaining(self) -> int:
        return self.summary.remaining() or 0


def _client_counters(client: AsyncVertexChat) -> Callable[[], tuple[int, int]]:
    """429s seen and retries made by the client since now (it may have served others before)."""
    base = client.stats

    def read() -> tuple[int, int]:
        now = client.stats
        return (
            now.rate_limited - base.rate_limited,
            now.total_retries - base.total_retries,
        )

    return read


class BatchJob:
    """One run of a file batch; see the module docstring. `await job.run()` once."""

    def __init__(
        self,
        client: AsyncVertexChat,
        config: JobConfig,
        *,
        reporter: Reporter | None = None,
        prices: PriceTable | None = None,
        counters: Callable[[], tuple[int, int]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if config.concurrency < 1:
            raise JobConfigError("concurrency must be >= 1")
        self._client = client
        self.config = config
        self._reporter: Reporter = reporter or NullReporter()
        self._counters = counters if counters is not None else _client_counters(client)
        self._clock = clock
        self.summary = BatchSummary(prices=prices)
        self.preparation: Preparation | None = None
        self._index: IdIndex | None = None
        self._output: Journal[BatchResult] | None = None
        self._errors: Journal[BatchResult] | None = None
        self._scheduler: BoundedScheduler[BatchRequest, BatchResult] | None = None
        self._stop_preparing = threading.Event()
        self._stop_signal: int | None = None
        self._stop_requested = False
        self._grace_timer: asyncio.TimerHandle | None = None
        self._started_at = clock()

    # -- stopping --------------------------------------------------------------------------
    @property
    def stop_signal(self) -> int | None:
        """The signal number given to the first `request_stop`, if any."""
        return self._stop_signal

    def request_stop(self, signum: int | None = None) -> None:
        """First call: take no new items, cancel in-flight ones after `grace`. Second: now."""
        if self._stop_requested:
            self._cancel_in_flight()
            return
        self._stop_requested = True
        self._stop_signal = signum
        self._stop_preparing.set()
        scheduler = self._scheduler
        if scheduler is None:
            return
        scheduler.stop()
        grace = self.config.grace
        self._reporter.message(
            f"stopping: taking no new items; waiting up to {grace:g} s for "
            f"{scheduler.in_flight} in flight (stop again to cancel them now)"
        )
        self._grace_timer = asyncio.get_running_loop().call_later(grace, self._cancel_in_flight)

    def _cancel_in_flight(self) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            self._stop_preparing.set()
            return
        if scheduler.in_flight:
            self._reporter.message(f"cancelling {scheduler.in_flight} requests still in flight")
        scheduler.cancel()

    # -- preparation (blocking file work, run in a thread) ---------------------------------
    def _check_paths(self) -> None:
        cfg = self.config
        paths = {"input": cfg.input, "output": cfg.output, "errors": cfg.errors_path}
        seen: dict[str, str] = {}
        for name, path in paths.items():
            real = os.path.realpath(path)
            if real in seen:
                raise JobConfigError(f"{name} and {seen[real]} are the same file ({path})")
            seen[real] = name
        if not cfg.input.is_file():
            raise FileNotFoundError(f"input file {cfg.input} does not exist")

    def _prepare(self) -> Preparation:
        cfg = self.config
        self._check_paths()
        errors_path = cfg.errors_path
        index = self._index = IdIndex()
        # Checked first, so that a bad input leaves no file behind.
        self._validate(index)
        # The output lock is the job lock: taken before anything is repaired or read.
        self._output = Journal(cfg.output)
        torn = {str(p): n for p in (cfg.output, errors_path) if (n := repair(p))}
        index.add_recorded(read_ids(cfg.output), OUTPUT)
        index.add_recorded(read_ids(errors_path), ERRORS)
        counts = index.counts()
        retried = 0
        if cfg.retry_failed and counts.failed:
            # Atomic rewrite before the errors journal is opened (it appends to the new file).
            retried = rewrite_without(errors_path, index.in_input)
            index.forget_failed()
        self._errors = Journal(errors_path)
        skipped_failed = 0 if cfg.retry_failed else counts.failed
        return Preparation(
            total=counts.input_ids,
            skipped_succeeded=counts.succeeded,
            skipped_failed=skipped_failed,
            retried=retried,
            foreign=counts.foreign,
            torn=torn,
        )

    def _validate(self, index: IdIndex) -> None:
        cfg = self.config
        limit = cfg.max_reported_problems
        problems: list[InputProblem] = []
        count = 0
        with open(cfg.input, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                if number % _STOP_CHECK_LINES == 0 and self._stop_preparing.is_set():
                    raise JobStoppedError("stopped while checking the input; nothing was sent")
                parsed = parse_line(raw, number)
                if parsed is None:
                    continue
                if isinstance(parsed, InputProblem):
                    count += 1
                    if len(problems) < limit:
                        problems.append(parsed)
                # A bad line with a usable id still takes part in the duplicate check.
                if parsed.custom_id is not None:
                    index.add_input(parsed.custom_id, number)
        index.finish_input()
        duplicates: list[InputProblem] = []
        for line, custom_id, first in index.duplicates():
            count += 1
            if len(duplicates) < limit:
                duplicates.append(InputProblem(
                    line, f"duplicate custom_id {quote_id(custom_id)} (first on line {first})",
                    custom_id,
                ))
        if count:
            merged = list(heapq.merge(problems, duplicates, key=lambda p: p.line or 0))
            raise BadInputError(cfg.input, merged[:limit], count)

    # -- running ---------------------------------------------------------------------------
    async def _source(self) -> AsyncIterator[BatchRequest]:
        index = self._index
        assert index is not None
        number = 0
        handle = await asyncio.to_thread(open, self.config.input, "rb")
        try:
            while True:
                # Reads happen in a thread, a block of lines at a time: the loop never waits
                # on the disk, and memory holds one block.
                block = await asyncio.to_thread(handle.readlines, _READ_BLOCK)
                if not block:
                    return
                for raw in block:
                    number += 1
                    parsed = parse_line(raw, number)
                    if isinstance(parsed, InputProblem):
                        raise RuntimeError(
                            f"{self.config.input} changed while the job ran ({parsed}); "
                            "rerun the command to resume"
                        )
                    if parsed is not None and not index.is_recorded(parsed.custom_id):
                        yield parsed
        finally:
            handle.close()

    async def _work(self, request: BatchRequest) -> BatchResult:
        return await execute_request(
            self._client, request, model=self.config.model, options=self.config.options
        )

    async def _flush(self, journal: Journal[BatchResult] | None) -> None:
        if journal is None:
            return
        for result in await journal.flush():
            self.summary.add(result)

    async def _flush_periodically(self) -> None:
        policy = self.config.flush
        while True:
            await asyncio.sleep(policy.max_delay)
            now = self._clock()
            for journal in (self._output, self._errors):
                if journal is not None and policy.due(journal.pending, journal.oldest_at, now):
                    await self._flush(journal)

    def snapshot(self) -> ProgressSnapshot:
        summary = self.summary
        prep = self.preparation
        self._read_counters()
        return ProgressSnapshot(
            elapsed=self._clock() - self._started_at,
            done=summary.done,
            total=prep.total - summary.skipped if prep is not None else None,
            failed=summary.failed,
            skipped=summary.skipped,
            tokens=summary.tokens,
            rate_limited=summary.rate_limited,
            retries=summary.retries,
            in_flight=self._scheduler.in_flight if self._scheduler is not None else 0,
        )

    def _read_counters(self) -> None:
        self.summary.rate_limited, self.summary.retries = self._counters()

    async def _tick(self) -> None:
        while True:
            self._reporter.update(self.snapshot())
            await asyncio.sleep(self._reporter.period)

    def _close_files(self) -> None:
        for journal in (self._output, self._errors):
            if journal is not None:
                journal.close()
        if self._index is not None:
            self._index.close()

    async def run(self) -> JobOutcome:
        """Run the job to its end, or until stopped; raise `BadInputError` before sending."""
        self._started_at = self._clock()
        try:
            self.preparation = prep = await asyncio.to_thread(self._prepare)
        except BaseException:
            self._close_files()
            raise
        self.summary.total = prep.total
        self.summary.skipped_succeeded = prep.skipped_succeeded
        self.summary.skipped_failed = prep.skipped_failed
        for path, cut in prep.torn.items():
            self._reporter.message(
                f"repaired {path}: removed a torn last line ({cut} bytes) left by an "
                "interrupted run; that item runs again"
            )
        if prep.foreign:
            self._reporter.message(
                f"note: {prep.foreign:,} records in the output/errors files have custom_ids "
                "that are not in this input (a different input file?); they are left alone"
            )
        output, errors = self._output, self._errors
        assert output is not None and errors is not None
        scheduler = self._scheduler = BoundedScheduler(
            self._source(), self._work, concurrency=self.config.concurrency
        )
        if self._stop_requested:  # a stop arrived while the input was being checked
            scheduler.stop()
        policy = self.config.flush
        helpers = [
            asyncio.ensure_future(self._flush_periodically()),
            asyncio.ensure_future(self._tick()),
        ]
        try:
            async for result in scheduler:
                journal = output if result.ok else errors
                journal.append(result.to_line(), result, self._clock())
                if journal.pending >= policy.max_lines:
                    await self._flush(journal)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            if self._grace_timer is not None:
                self._grace_timer.cancel()
            try:
                await self._flush(output)
                await self._flush(errors)
            finally:
                self._close_files()
                self._reporter.close(self.snapshot())
        elapsed = self._clock() - self._started_at
        interrupted = self._stop_requested and bool(self.summary.remaining())
        return JobOutcome(
            "interrupted" if interrupted else "completed", self.summary, elapsed,
            self._stop_signal,
        )

"""Worker processes (`--workers N`): one load spread over N event loops, measured as one.

Why: one event loop is one core. Past a few hundred streams the bench's own loop falls behind
(its client-health panel says so), and what it reports is then partly client delay. N workers,
each a process with its own event loop and its own client (its own connection pool), run the
shares of the load that `partition` assigns them.

How a phase runs:
1. the parent sends each worker its job (`PhaseJob`, with its `Share`); each builds its
   requests before any clock starts and answers "ready";
2. the parent picks one start time a little ahead (`time.perf_counter()` seconds) and sends it
   to all; each worker sleeps until then and runs its share;
3. each worker sends back its `PhaseResult`: per-request records, loop-lag samples, CPU
   fraction, peak in flight. The parent merges the records (every percentile is then computed
   on all requests together: exact, never an average of per-worker percentiles) and judges
   client health per worker and combined.

One clock: `time.perf_counter()` is CLOCK_MONOTONIC on Linux, one clock for the whole machine
(not per process), so timestamps taken in different workers compare directly. Each worker's
first message carries a reading of it, which the parent checks falls between its own readings
before and after (`ClockMismatchError` otherwise), so a platform where that does not hold is
refused rather than measured wrongly.

Processes are started with the 'spawn' context: a fork of a process with a running event loop
copies the loop's state (selectors, threads' locks) into the child. Workers ignore SIGINT (the
bench stops them), die with the bench (`lifeline`: parent-death signal, and end-of-file on
their pipe), and stop their requests at once when told to or when the pipe closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any

from .lifeline import parent_death_signal
from .partition import Share
from .runner import Load, PhaseResult, StopRule, prepare_phase
from .workload import Workload

__all__ = ["ClockMismatchError", "PhaseJob", "WorkerPool", "WorkerTarget", "merge_phases"]

_START_LEAD = 0.1
"""Seconds between the start time's choice and the start: every worker must be waiting."""
_STOP_WAIT = 5.0


class ClockMismatchError(RuntimeError):
    """A worker's monotonic clock is not the parent's: its timestamps could not be merged."""


@dataclass(frozen=True)
class WorkerTarget:
    """A target as a worker opens it: the base URL is resolved (emulator started)."""

    name: str
    base_url: str
    api_key: str | None
    client_options: Mapping[str, Any]
    pool_size: int
    timings: bool

    def __repr__(self) -> str:  # the key stays out of reprs and tracebacks
        return f"WorkerTarget({self.name!r}, {self.base_url!r})"


@dataclass(frozen=True)
class PhaseJob:
    """One phase of one target for one worker (everything but the shared workload)."""

    target: str
    model: str
    load: Load
    stop: StopRule
    salt: str
    seed: int
    timeout: float | None
    extra_body: Mapping[str, Any] | None
    token_counter: Callable[[str], int] | None
    before_send: Callable[[int], None] | None
    measure_client: bool
    ramp_up: float
    timings: bool = True
    share: Share = field(default_factory=Share)


def merge_phases(parts: Sequence[PhaseResult]) -> PhaseResult:
    """One phase from its shares: all records (by index), every loop-lag sample, the busiest
    worker's CPU fraction, and the sum of the peaks in flight (an upper bound: the peaks need
    not coincide)."""
    records = sorted((r for part in parts for r in part.records), key=lambda r: r.index)
    cpus = [p.cpu_fraction for p in parts if p.cpu_fraction is not None]
    return PhaseResult(
        records=records,
        start=min(p.start for p in parts),
        end=max(p.end for p in parts),
        loop_lags=[lag for p in parts for lag in p.loop_lags],
        cpu_fraction=max(cpus) if cpus else None,
        peak_in_flight=sum(p.peak_in_flight for p in parts),
    )


# -- the worker process -----------------------------------------------------------------------

def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _recv(conn: Connection) -> Any:
    """The next message, without blocking the loop; None when the other end has closed."""
    if not conn.poll():
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        fd = conn.fileno()
        loop.add_reader(fd, _wake, ready)
        try:
            await ready
        finally:
            loop.remove_reader(fd)
    try:
        return conn.recv()
    except (EOFError, OSError):
        return None


def worker_main(conn: Connection, parent_pid: int) -> None:
    """Entry point of a worker process (spawned: this runs in a fresh interpreter)."""
    parent_death_signal()
    if os.getppid() != parent_pid:
        os._exit(1)  # the bench died before the parent-death signal was armed
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench stops us, in order
    try:
        asyncio.run(_serve(conn))
    finally:
        conn.close()


async def _serve(conn: Connection) -> None:
    from .suite import _make_client, enable_timings

    message = await _recv(conn)
    if message is None:
        return
    _, targets, workload = message
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for target in targets:
            client = _make_client_for(target, _make_client)
            if target.timings:
                enable_timings(client)
            clients[target.name] = await stack.enter_async_context(client)
        conn.send(("hello", time.perf_counter(), os.getpid()))
        while True:
            message = await _recv(conn)
            if message is None or message[0] != "phase":
                return
            job: PhaseJob = message[1]
            if not await _run_job(conn, clients[job.target], workload, job):
                return


def _make_client_for(target: WorkerTarget, make: Callable[..., Any]) -> Any:
    from .suite import Target

    return make(Target(target.name, target.base_url, None, target.api_key,
                       target.client_options), target.base_url, target.pool_size)


async def _run_job(conn: Connection, client: Any, workload: Workload, job: PhaseJob) -> bool:
    """Run one phase; False when the bench said stop (or went away) meanwhile."""
    try:
        prepared = prepare_phase(
            client, model=job.model, workload=workload, load=job.load, stop=job.stop,
            salt=job.salt, seed=job.seed, timeout=job.timeout, extra_body=job.extra_body,
            token_counter=job.token_counter, before_send=job.before_send,
            measure_client=job.measure_client, share=job.share, ramp_up=job.ramp_up,
            timings=job.timings,
        )
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return True
    prepared.freeze()
    conn.send(("ready", None))
    go = await _recv(conn)
    if go is None or go[0] != "go":
        import gc

        gc.unfreeze()
        return False
    run = asyncio.ensure_future(prepared.run(go[1]))
    watch = asyncio.ensure_future(_recv(conn))  # "stop", or end-of-file if the bench died
    await asyncio.wait({run, watch}, return_when=asyncio.FIRST_COMPLETED)
    if watch.done():
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        return False
    watch.cancel()
    await asyncio.gather(watch, return_exceptions=True)
    try:
        result = run.result()
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return True
    conn.send(("done", result))
    return True


# -- the parent's side ------------------------------------------------------------------------

@dataclass
class _Worker:
    process: Any  # multiprocessing.context.SpawnProcess
    conn: Connection


class WorkerPool:
    """N worker processes for the whole run; `run_phase` spreads one phase over n of them."""

    def __init__(self, size: int, targets: Sequence[WorkerTarget], workload: Workload,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.size = size
        self.targets = list(targets)
        self.workload = workload
        self.clock = clock
        self.workers: list[_Worker] = []

    @contextlib.asynccontextmanager
    async def started(self) -> AsyncIterator[WorkerPool]:
        try:
            await self._start()
            yield self
        finally:
            await self._stop()

    async def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        loop = asyncio.get_running_loop()
        before = self.clock()
        for number in range(self.size):
            mine, theirs = context.Pipe(duplex=True)
            process = context.Process(target=worker_main, args=(theirs, os.getpid()),
                                      name=f"aiovertexchat-bench-worker-{number}",
                                      daemon=True)
            process.start()
            theirs.close()
            self.workers.append(_Worker(process, mine))
        setup = ("setup", self.targets, self.workload)
        # The workload may be large (a dataset): send it from a thread, the loop stays free.
        await asyncio.gather(*(loop.run_in_executor(None, w.conn.send, setup)
                               for w in self.workers))
        hellos = await asyncio.gather(*(_recv(w.conn) for w in self.workers))
        after = self.clock()
        for number, hello in enumerate(hellos):
            if hello is None or hello[0] != "hello":
                raise RuntimeError(f"bench worker {number} did not start (exit code "
                                   f"{self.workers[number].process.exitcode})")
            if not before <= hello[1] <= after:
                raise ClockMismatchError(
                    f"worker {number}'s perf_counter read {hello[1]:.6f}, outside the "
                    f"parent's [{before:.6f}, {after:.6f}]: the processes do not share one "
                    "monotonic clock, so their timestamps cannot be merged")

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers]

    async def run_phase(self, job: PhaseJob, workers: int) -> list[PhaseResult]:
        """Run `job` split over the first `workers` workers; their results, by worker."""
        if not 1 <= workers <= len(self.workers):
            raise ValueError(f"{workers} workers asked, {len(self.workers)} started")
        used = self.workers[:workers]
        for number, worker in enumerate(used):
            worker.conn.send(("phase", replace(job, share=Share(number, workers))))
        replies = await asyncio.gather(*(_recv(w.conn) for w in used))
        self._check(replies, "ready")
        start_at = self.clock() + _START_LEAD
        for worker in used:
            worker.conn.send(("go", start_at))
        results = await asyncio.gather(*(_recv(w.conn) for w in used))
        self._check(results, "done")
        return [r[1] for r in results]

    def _check(self, replies: Sequence[Any], want: str) -> None:
        for number, reply in enumerate(replies):
            if reply is None:
                raise RuntimeError(f"bench worker {number} exited unexpectedly")
            if reply[0] == "error":
                raise RuntimeError(f"bench worker {number}: {reply[1]}")
            if reply[0] != want:
                raise RuntimeError(f"bench worker {number} answered {reply[0]!r}")

    async def _stop(self) -> None:
        """Tell every worker to stop (requests in flight are cancelled), wait for them to
        exit, kill those that do not within a few seconds."""
        for worker in self.workers:
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(("exit", None))
            worker.conn.close()
        for worker in self.workers:
            await _wait_exit(worker.process, _STOP_WAIT)
            if worker.process.exitcode is None:
                worker.process.kill()
                await _wait_exit(worker.process, _STOP_WAIT)
        self.workers.clear()


async def _wait_exit(process: Any, timeout: float) -> None:
    """Wait for a process to exit, on its sentinel (no polling), at most `timeout` s."""
    if process.exitcode is not None:
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    sentinel = process.sentinel
    loop.add_reader(sentinel, _wake, done)
    try:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(done, timeout)
    finally:
        loop.remove_reader(sentinel)
    process.join(0)

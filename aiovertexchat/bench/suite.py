"""The Python API: `await run_bench(BenchConfig(...))` -> `BenchResult`.

Order of work: for each load point, for each repeat, for each target (so targets compared side
by side see the same moments of a long run, and repeats are spread out in time). Warm-up
requests run before the first repeat of each load point on each target, at that point's load,
and are never counted. With `find_max_rate`, each target runs its own rate search instead.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._http.tracing import timing_trace_config
from .._protocol.pricing import PriceTable
from .._reliability.retry import RetryPolicy
from ..client import AsyncVertexChat
from .emulated import EmulatorSettings, emulator_process
from .health import ClientHealth, HealthThresholds, assess
from .metrics import RequestRecord, Summary, summarize
from .partition import split_concurrency
from .runner import Load, PhaseResult, StopRule, run_phase
from .sample_stats import Interval, t_interval
from .server_metrics import Scraper, ServerMetrics
from .slo import SLO
from .sweep import Probe, RateSearch
from .workers import PhaseJob, WorkerPool, WorkerTarget, merge_phases
from .workload import Workload

__all__ = [
    "BenchConfig",
    "BenchResult",
    "MaxRateResult",
    "PointResult",
    "RepeatResult",
    "Target",
    "run_bench",
]

AUTO_STREAMS_PER_WORKER = 128
AUTO_RATE_PER_WORKER = 100.0
DEFAULT_MODEL = "google/gemini-2.5-flash"
EMULATOR = "emulator"
SCHEMA = "aiovertexchat.bench/1"

# Per-repeat values that get a confidence interval across repeats: (name, getter).
_CI_METRICS: tuple[tuple[str, Callable[[Summary], float | None]], ...] = (
    ("ttft_p50", lambda s: s.ttft.p50 if s.ttft else None),
    ("ttft_p99", lambda s: s.ttft.p99 if s.ttft else None),
    ("tpot_p50", lambda s: s.tpot.p50 if s.tpot else None),
    ("itl_p50", lambda s: s.itl.p50 if s.itl else None),
    ("e2e_p50", lambda s: s.e2e.p50 if s.e2e else None),
    ("e2e_p99", lambda s: s.e2e.p99 if s.e2e else None),
    ("request_throughput", lambda s: s.request_throughput),
    ("output_token_throughput", lambda s: s.output_token_throughput),
    ("goodput", lambda s: s.goodput),
    ("good_fraction", lambda s: s.good_fraction),
)


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _offered_rate(load: Load, workload: Workload) -> float:
    if load.kind == "rate":
        return load.value
    trace = workload.trace or ()
    if len(trace) < 2:
        return 1.0
    span = (trace[-1].timestamp_ms - trace[0].timestamp_ms) / 1000.0
    return (len(trace) - 1) / span * load.value if span > 0 else float(len(trace))


@dataclass(frozen=True)
class Target:
    """One server to measure. `base_url=None` (or "emulator") means the embedded emulator."""

    name: str
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = field(default=None, repr=False)
    client_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: str) -> Target:
        """`NAME=URL` or `NAME=URL@MODEL`; URL may be `emulator`. The model is what follows
        the last `@` (model ids contain `/` but never `@`)."""
        name, eq, rest = spec.partition("=")
        name = name.strip()
        if not eq or not name or not rest.strip():
            raise ValueError(f"target {spec!r} must be NAME=URL or NAME=URL@MODEL")
        url, at, model = rest.strip().rpartition("@")
        if not at:
            url, model = model, ""
        if not url:
            raise ValueError(f"target {spec!r} has no URL before '@'")
        if url != EMULATOR and not url.startswith(("http://", "https://")):
            raise ValueError(f"target {name!r}: URL {url!r} must start with http(s):// "
                             "or be 'emulator'")
        return cls(name, None if url == EMULATOR else url, model or None)

    @property
    def is_emulator(self) -> bool:
        return self.base_url is None


@dataclass
class BenchConfig:
    """Everything a benchmark run needs; the CLI builds one from its flags."""

    targets: Sequence[Target] = (Target(EMULATOR),)
    model: str = DEFAULT_MODEL
    loads: Sequence[Load] = (Load.concurrency(1),)
    requests: int | None = 100
    duration: float | None = None
    warmup: int = 0
    workload: Workload = field(default_factory=Workload)
    slo: SLO = field(default_factory=SLO)
    repeat: int = 1
    confidence: float = 0.95
    find_max_rate: bool = False
    slo_attainment: float = 0.9
    search_steps: int = 4
    timeout: float | None = 300.0
    extra_body: Mapping[str, Any] | None = None
    prices: PriceTable | None = field(default_factory=PriceTable.default)
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    token_counter: Callable[[str], int] | None = None
    """Client-side output token count from the streamed text; None counts token chunks."""
    max_connections: int | None = None
    """Connection pool size per target; None: the largest concurrency, at least 256."""
    seed: int = 0
    emulator: EmulatorSettings = field(default_factory=EmulatorSettings)
    before_send: Callable[[int], None] | None = None
    """Called on the event loop just before each measured request is sent (a test hook: a
    blocking callable here simulates a saturated client). With worker processes it runs in
    the workers, so it must be picklable (a module-level function)."""
    ramp_up: float = 0.0
    """Closed loops: slot s of N starts s/N of this many seconds late."""
    workers: int | str = 1
    """Worker processes per load point (`workers` module); "auto": from the load and the
    cores (`workers_for`). 1 runs on this process's own event loop."""
    connection_timings: bool = True
    """Record pool wait, DNS, connect and first byte per request (aiohttp tracing)."""
    server_metrics: str | None = None
    """A Prometheus endpoint to sample during each measured phase (`server_metrics`)."""
    server_metrics_interval: float = 1.0
    server_metric_names: Sequence[str] = ()
    """Metrics to follow beyond the known ones (running, waiting, KV cache, preemptions)."""
    on_point: Callable[[PointResult], None] | None = None
    """Progress callback, called as each load point of each target completes."""

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("give at least one target")
        names = [t.name for t in self.targets]
        if len(set(names)) != len(names):
            raise ValueError(f"target names must be unique, got {names}")
        if not self.loads:
            raise ValueError("give at least one load (a concurrency or a rate)")
        if self.requests is None and self.duration is None:
            raise ValueError("give a request count or a duration")
        if self.repeat < 1:
            raise ValueError("repeat must be >= 1")
        if self.warmup < 0:
            raise ValueError("warmup must be >= 0")
        if self.find_max_rate:
            if any(load.kind != "rate" for load in self.loads):
                raise ValueError("find_max_rate searches over rates: give rates, not "
                                 "concurrencies")
            if not self.slo:
                raise ValueError("find_max_rate needs an SLO (e.g. --slo ttft=500ms)")
        if self.ramp_up < 0:
            raise ValueError("ramp-up must be >= 0 seconds")
        if self.workers != "auto" and (not isinstance(self.workers, int) or self.workers < 1):
            raise ValueError(f"workers must be a whole number >= 1 or 'auto', got "
                             f"{self.workers!r}")
        if any(load.kind == "trace" for load in self.loads) and self.workload.trace is None:
            raise ValueError("a trace load needs a trace (--trace FILE)")

    def workers_for(self, load: Load) -> int:
        """Worker processes for `load`: the number given, or with "auto" one per
        `AUTO_STREAMS_PER_WORKER` concurrent streams (closed loop) or `AUTO_RATE_PER_WORKER`
        requests/s (open loop), at most the cores this process may use."""
        if self.workers != "auto":
            return int(self.workers)
        if load.kind == "concurrency":
            wanted = math.ceil(load.value / AUTO_STREAMS_PER_WORKER)
        else:
            wanted = math.ceil(_offered_rate(load, self.workload) / AUTO_RATE_PER_WORKER)
        return max(1, min(wanted, usable_cores()))

    def pool_size(self) -> int:
        if self.max_connections is not None:
            return self.max_connections
        top = max((int(load.value) for load in self.loads if load.kind == "concurrency"),
                  default=0)
        return max(top, 256)

    def model_for(self, target: Target) -> str:
        return target.model or self.model

    def to_dict(self) -> dict[str, Any]:
        w = self.workload
        return {
            "targets": [
                {"name": t.name, "base_url": t.base_url or EMULATOR, "model": self.model_for(t)}
                for t in self.targets
            ],
            "loads": [load.to_dict() for load in self.loads],
            "requests": self.requests,
            "duration_s": self.duration,
            "warmup": self.warmup,
            "workload": {
                "prompt_tokens": str(w.prompt_tokens),
                "max_tokens": w.max_tokens,
                "prompts_file_entries": len(w.prompts) if w.prompts else None,
                "cache_bust": w.cache_bust,
                "run_id": w.run_id,
                "max_tokens_from_dataset": w.max_tokens_from_dataset,
                "tokenizer": w.tokenizer.path if w.tokenizer is not None else None,
                "turns": w.turns,
                "think_time_s": w.think_time,
                "trace_requests": len(w.trace) if w.trace is not None else None,
            },
            "ramp_up_s": self.ramp_up,
            "workers": self.workers,
            "server_metrics": self.server_metrics,
            "slo": self.slo.to_dict(),
            "slo_attainment": self.slo_attainment,
            "repeat": self.repeat,
            "confidence": self.confidence,
            "find_max_rate": self.find_max_rate,
            "timeout_s": self.timeout,
            "pool_size": self.pool_size(),
            "seed": self.seed,
            "emulator": (
                self.emulator.describe() if any(t.is_emulator for t in self.targets) else None
            ),
            "thresholds": {
                name: getattr(self.thresholds, name)
                for name in self.thresholds.__dataclass_fields__
            },
        }


@dataclass
class RepeatResult:
    repeat: int
    summary: Summary
    health: ClientHealth
    records: list[RequestRecord]
    window_start: float
    workers: int = 1
    """Processes that sent this repeat's requests (1: the bench's own event loop)."""
    server_metrics: ServerMetrics | None = None
    """What the server's Prometheus endpoint showed during the repeat (`--server-metrics`)."""


@dataclass
class PointResult:
    """One target at one load: every repeat, and the pooled summary."""

    target: str
    model: str
    load: Load
    repeats: list[RepeatResult]
    summary: Summary
    intervals: dict[str, Interval]
    slo_attainment: float

    @property
    def valid(self) -> bool:
        return all(r.health.valid for r in self.repeats)

    @property
    def reasons(self) -> list[str]:
        seen: list[str] = []
        for r in self.repeats:
            for reason in r.health.reasons:
                label = f"repeat {r.repeat}: {reason}" if len(self.repeats) > 1 else reason
                seen.append(label)
        return seen

    @property
    def meets_slo(self) -> bool | None:
        """Good fraction >= the attainment target (None without an SLO)."""
        fraction = self.summary.good_fraction
        return None if fraction is None else fraction >= self.slo_attainment

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "model": self.model,
            "load": self.load.to_dict(),
            "valid": self.valid,
            "invalid_reasons": self.reasons,
            "meets_slo": self.meets_slo,
            "summary": self.summary.to_dict(),
            "confidence_intervals": {k: v.to_dict() for k, v in self.intervals.items()},
            "repeats": [
                {"repeat": r.repeat, "workers": r.workers, "summary": r.summary.to_dict(),
                 "client_health": r.health.to_dict(),
                 "server_metrics": (r.server_metrics.to_dict()
                                    if r.server_metrics is not None else None)}
                for r in self.repeats
            ],
        }


@dataclass
class MaxRateResult:
    target: str
    max_rate: float | None
    probes: list[Probe]
    limited_by_client: bool

    @property
    def lower_bound(self) -> bool:
        """True when no probed rate failed: the search ran out of steps below the limit, so
        `max_rate` is only a lower bound of the true maximum ("≥ X")."""
        return self.max_rate is not None and all(p.passed for p in self.probes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "max_rate": self.max_rate,
            "max_rate_is_lower_bound": self.lower_bound,
            "limited_by_client": self.limited_by_client,
            "probes": [{"rate": p.rate, "passed": p.passed, "why": p.why} for p in self.probes],
        }


@dataclass
class BenchResult:
    config: BenchConfig
    points: list[PointResult]
    max_rates: list[MaxRateResult]
    started_at: float
    """Wall-clock start (seconds since the epoch)."""
    interrupted: str | None = None
    """The signal that stopped the run early ("SIGINT", "SIGTERM"); `points` then holds the
    load points that had finished."""

    @property
    def valid(self) -> bool:
        return all(point.valid for point in self.points)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "valid": self.valid,
            "interrupted": self.interrupted,
            "environment": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "argv": sys.argv,
            },
            "config": self.config.to_dict(),
            "points": [point.to_dict() for point in self.points],
            "max_rate": [m.to_dict() for m in self.max_rates],
        }


def _make_client(target: Target, base_url: str, pool: int) -> AsyncVertexChat:
    # Measurements need a client that adds nothing of its own: no retries (a retried request
    # would be timed as one slow success and its error would vanish from the error rate), no
    # concurrency gate or adaptive limit (the bench holds its own schedule; the pool is sized
    # for it), no rate limiter. A target's client_options may still override these on purpose.
    options: dict[str, Any] = {
        "max_connections": pool,
        "max_concurrency": None,
        "retry": RetryPolicy.never(),
        # The embedded emulator is on 127.0.0.1: never through a proxy named by HTTP_PROXY.
        **({"trust_env": False} if target.is_emulator else {}),
        **target.client_options,
    }
    api_key = target.api_key if target.api_key is not None else (
        "bench" if target.is_emulator else None
    )
    return AsyncVertexChat(base_url=base_url, api_key=api_key, **options)


def enable_timings(client: AsyncVertexChat) -> None:
    """Record per-request connection steps (`_http.tracing`) on this client's requests.

    Reaches into the client's transport on purpose: the option exists for the bench only, and
    must be set before the first request creates the connection pool.
    """
    client._transport.trace_configs.append(timing_trace_config())


class _Session:
    """Open clients, emulator processes and worker processes for every target, for the run."""

    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        self.clients: dict[str, AsyncVertexChat] = {}
        self.urls: dict[str, str] = {}
        self.warmed: set[tuple[str, Load]] = set()
        self.pool: WorkerPool | None = None
        self.scraper: Scraper | None = None

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[_Session]:
        config = self.config
        async with contextlib.AsyncExitStack() as stack:
            for target in config.targets:
                url = target.base_url
                if url is None:
                    url = await stack.enter_async_context(emulator_process(config.emulator))
                self.urls[target.name] = url
                client = _make_client(target, url, config.pool_size())
                if config.connection_timings:
                    enable_timings(client)
                self.clients[target.name] = await stack.enter_async_context(client)
            most = max(config.workers_for(load) for load in config.loads)
            if config.find_max_rate and config.workers == "auto":
                most = usable_cores()  # the search goes beyond the given rates
            if most > 1:
                targets = [
                    WorkerTarget(t.name, self.urls[t.name],
                                 t.api_key if t.api_key is not None else (
                                     "bench" if t.is_emulator else None),
                                 dict(t.client_options), config.pool_size(),
                                 config.connection_timings)
                    for t in config.targets
                ]
                self.pool = await stack.enter_async_context(
                    WorkerPool(most, targets, config.workload).started())
            if config.server_metrics:
                self.scraper = await stack.enter_async_context(Scraper(
                    config.server_metrics, config.server_metrics_interval,
                    config.server_metric_names).started())
            yield self

    def _job(self, target: Target, load: Load, stop: StopRule, salt: str, seed: int,
             measure: bool) -> PhaseJob:
        config = self.config
        return PhaseJob(
            target=target.name, model=config.model_for(target), load=load, stop=stop,
            salt=salt, seed=seed, timeout=config.timeout, extra_body=config.extra_body,
            token_counter=config.token_counter,
            before_send=config.before_send if measure else None, measure_client=measure,
            ramp_up=config.ramp_up, timings=config.connection_timings,
        )

    async def _phase(self, job: PhaseJob, workers: int) -> list[PhaseResult]:
        """One phase, on this process's loop or spread over `workers` worker processes."""
        if workers > 1:
            assert self.pool is not None
            return await self.pool.run_phase(job, workers)
        config = self.config
        result = await run_phase(
            self.clients[job.target], model=job.model, workload=config.workload,
            load=job.load, stop=job.stop, salt=job.salt, seed=job.seed, timeout=job.timeout,
            extra_body=job.extra_body, token_counter=job.token_counter,
            before_send=job.before_send, measure_client=job.measure_client,
            ramp_up=job.ramp_up, timings=job.timings,
        )
        return [result]

    async def measure(self, target: Target, load: Load, repeat: int) -> RepeatResult:
        config = self.config
        workers = config.workers_for(load)
        if self.pool is not None:
            workers = min(workers, self.pool.size)
        key = (target.name, load)
        if config.warmup and key not in self.warmed:
            await self._phase(self._job(target, load, StopRule(requests=config.warmup),
                                        f"w{load.label}", config.seed + 7919, False), workers)
        self.warmed.add(key)
        job = self._job(target, load, StopRule(config.requests, config.duration),
                        f"{load.label}r{repeat}", config.seed + repeat, True)
        sampling = self.scraper.sampling() if self.scraper is not None else None
        if sampling is not None:
            await sampling.__aenter__()
        try:
            parts = await self._phase(job, workers)
        finally:
            if sampling is not None:
                await sampling.__aexit__(None, None, None)
        server = sampling.result if sampling is not None else None
        return self._repeat_result(parts, load, job.model, repeat, server)

    def _repeat_result(
        self, parts: list[PhaseResult], load: Load, model: str, repeat: int,
        server: ServerMetrics | None = None,
    ) -> RepeatResult:
        config = self.config
        phase = parts[0] if len(parts) == 1 else merge_phases(parts)
        summary = summarize(
            phase.records, window_start=phase.start, slo=config.slo, model=model,
            prices=config.prices,
        )
        per_worker = []
        if len(parts) > 1:
            shares = split_concurrency(int(load.value), len(parts)) if (
                load.kind == "concurrency") else [load.value / len(parts)] * len(parts)
            per_worker = [
                assess(part.records, load_kind=load.kind, target_load=share,
                       window_start=part.start, loop_lags=part.loop_lags,
                       cpu_fraction=part.cpu_fraction, peak_in_flight=part.peak_in_flight,
                       pool_size=config.pool_size(), thresholds=config.thresholds,
                       ramp_up=config.ramp_up)
                for part, share in zip(parts, shares, strict=True)
            ]
        health = assess(
            phase.records,
            load_kind=load.kind,
            target_load=load.value,
            window_start=phase.start,
            loop_lags=phase.loop_lags,
            cpu_fraction=phase.cpu_fraction,
            peak_in_flight=phase.peak_in_flight,
            pool_size=config.pool_size() * len(parts),
            thresholds=config.thresholds,
            ramp_up=config.ramp_up,
        )
        health.workers.extend(per_worker)
        return RepeatResult(repeat, summary, health, phase.records, phase.start, len(parts),
                            server)

    def point(self, target: Target, load: Load, repeats: list[RepeatResult]) -> PointResult:
        config = self.config
        model = config.model_for(target)
        if len(repeats) == 1:
            pooled = repeats[0].summary
        else:
            # Pooled: every request of every repeat; throughputs over the summed windows.
            records = [rec for r in repeats for rec in r.records]
            pooled = summarize(
                records, window_start=0.0, slo=config.slo, model=model, prices=config.prices,
                duration=sum(r.summary.duration_s for r in repeats),
            )
        intervals: dict[str, Interval] = {}
        for name, getter in _CI_METRICS:
            values = [getter(r.summary) for r in repeats]
            present = [v for v in values if v is not None]
            if len(present) == len(values):
                interval = t_interval(present, config.confidence)
                if interval is not None:
                    intervals[name] = interval
        result = PointResult(target.name, model, load, repeats, pooled, intervals,
                             config.slo_attainment)
        if config.on_point is not None:
            config.on_point(result)
        return result


def _probe_verdict(point: PointResult) -> tuple[bool, str]:
    if not point.valid:
        return False, "client saturated: " + "; ".join(point.reasons)
    fraction = point.summary.good_fraction or 0.0
    if fraction < point.slo_attainment:
        return False, f"good {fraction:.0%} < {point.slo_attainment:.0%}"
    return True, f"good {fraction:.0%}"


async def run_bench(config: BenchConfig) -> BenchResult:
    """Run the whole benchmark; see the README "bench" section for every metric."""
    started = time.time()
    points: list[PointResult] = []
    max_rates: list[MaxRateResult] = []
    session = _Session(config)
    async with session.opened():
        if config.find_max_rate:
            arrivals = config.loads[0].arrivals
            for target in config.targets:
                search = RateSearch([load.value for load in config.loads],
                                    extra_steps=config.search_steps)
                limited = False
                while (rate := search.next_rate()) is not None:
                    load = Load.rate(rate, arrivals)
                    repeats = [await session.measure(target, load, r)
                               for r in range(1, config.repeat + 1)]
                    point = session.point(target, load, repeats)
                    points.append(point)
                    passed, why = _probe_verdict(point)
                    limited = limited or not point.valid
                    search.record(rate, passed, why)
                max_rates.append(MaxRateResult(target.name, search.best, search.probes, limited))
        else:
            for load in config.loads:
                by_target: dict[str, list[RepeatResult]] = {t.name: [] for t in config.targets}
                for repeat in range(1, config.repeat + 1):
                    for target in config.targets:
                        by_target[target.name].append(
                            await session.measure(target, load, repeat)
                        )
                points.extend(
                    session.point(target, load, by_target[target.name])
                    for target in config.targets
                )
    return BenchResult(config, points, max_rates, started)

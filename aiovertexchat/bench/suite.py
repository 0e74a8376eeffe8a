"""The Python API: `await run_bench(BenchConfig(...))` -> `BenchResult`.

Order of work: for each load point, for each repeat, for each target (so targets compared side
by side see the same moments of a long run, and repeats are spread out in time). Warm-up
requests run before the first repeat of each load point on each target, at that point's load,
and are never counted. With `find_max_rate`, each target runs its own rate search instead.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._protocol.pricing import PriceTable
from .._reliability.retry import RetryPolicy
from ..client import AsyncVertexChat
from .emulated import EmulatorSettings, emulator_process
from .health import ClientHealth, HealthThresholds, assess
from .metrics import RequestRecord, Summary, summarize
from .runner import Load, PhaseResult, StopRule, run_phase
from .sample_stats import Interval, t_interval
from .slo import SLO
from .sweep import Probe, RateSearch
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
    blocking callable here simulates a saturated client)."""
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
            },
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
                {"repeat": r.repeat, "summary": r.summary.to_dict(),
                 "client_health": r.health.to_dict()}
                for r in self.repeats
            ],
        }


@dataclass
class MaxRateResult:
    target: str
    max_rate: float | None
    probes: list[Probe]
    limited_by_client: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "max_rate": self.max_rate,
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

    @property
    def valid(self) -> bool:
        return all(point.valid for point in self.points)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "valid": self.valid,
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


class _Session:
    """Open clients (and emulator processes) for every target, for the whole run."""

    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        self.clients: dict[str, AsyncVertexChat] = {}
        self.warmed: set[tuple[str, Load]] = set()

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[_Session]:
        async with contextlib.AsyncExitStack() as stack:
            for target in self.config.targets:
                url = target.base_url
                if url is None:
                    url = await stack.enter_async_context(emulator_process(self.config.emulator))
                client = _make_client(target, url, self.config.pool_size())
                self.clients[target.name] = await stack.enter_async_context(client)
            yield self

    async def measure(self, target: Target, load: Load, repeat: int) -> RepeatResult:
        config = self.config
        client = self.clients[target.name]
        model = config.model_for(target)
        common: dict[str, Any] = {
            "model": model,
            "workload": config.workload,
            "load": load,
            "timeout": config.timeout,
            "extra_body": config.extra_body,
            "token_counter": config.token_counter,
        }
        key = (target.name, load)
        if config.warmup and key not in self.warmed:
            await run_phase(
                client, stop=StopRule(requests=config.warmup), salt=f"w{load.label}",
                seed=config.seed + 7919, measure_client=False, **common,
            )
        self.warmed.add(key)
        phase = await run_phase(
            client,
            stop=StopRule(config.requests, config.duration),
            salt=f"{load.label}r{repeat}",
            seed=config.seed + repeat,
            before_send=config.before_send,
            **common,
        )
        return self._repeat_result(phase, load, model, repeat)

    def _repeat_result(
        self, phase: PhaseResult, load: Load, model: str, repeat: int
    ) -> RepeatResult:
        config = self.config
        summary = summarize(
            phase.records, window_start=phase.start, slo=config.slo, model=model,
            prices=config.prices,
        )
        health = assess(
            phase.records,
            load_kind=load.kind,
            target_load=load.value,
            window_start=phase.start,
            loop_lags=phase.loop_lags,
            cpu_fraction=phase.cpu_fraction,
            peak_in_flight=phase.peak_in_flight,
            pool_size=config.pool_size(),
            thresholds=config.thresholds,
        )
        return RepeatResult(repeat, summary, health, phase.records, phase.start)

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

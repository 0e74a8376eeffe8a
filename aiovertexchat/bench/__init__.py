"""Latency, throughput and dollar-cost benchmarks that say what they measure.

    from aiovertexchat.bench import BenchConfig, Load, SLO, Target, run_bench
    result = await run_bench(BenchConfig(
        targets=[Target("emu")],                     # base_url=None: the embedded emulator
        loads=[Load.concurrency(1), Load.concurrency(8)],
        requests=200, slo=SLO.parse("ttft=500ms,tpot=50ms"),
    ))
    result.points[0].summary.ttft.p99, result.valid

Modules: `stats` (percentiles, t intervals), `metrics` (per-request timelines, summaries),
`slo`, `health` (client-health checks), `arrivals`, `workload` (all sans-IO); `runner` (one
phase), `suite` (`run_bench`), `emulated` (emulator child process), `sweep` (max-rate search),
`report` (terminal), `output` (JSON/CSV/JSONL), `plot` (PNG), `cli`.
"""

from .arrivals import ArrivalProcess, arrival_offsets
from .emulated import EmulatorSettings
from .health import Check, ClientHealth, HealthThresholds
from .metrics import CostSummary, RequestRecord, Summary, summarize
from .runner import Load, StopRule
from .sample_stats import Distribution, Interval, percentile, t_interval
from .slo import SLO
from .suite import (
    BenchConfig,
    BenchResult,
    MaxRateResult,
    PointResult,
    RepeatResult,
    Target,
    run_bench,
)
from .workload import LengthSpec, PromptEntry, Workload, load_prompts

__all__ = [
    "SLO",
    "ArrivalProcess",
    "BenchConfig",
    "BenchResult",
    "Check",
    "ClientHealth",
    "CostSummary",
    "Distribution",
    "EmulatorSettings",
    "HealthThresholds",
    "Interval",
    "LengthSpec",
    "Load",
    "MaxRateResult",
    "PointResult",
    "PromptEntry",
    "RepeatResult",
    "RequestRecord",
    "StopRule",
    "Summary",
    "Target",
    "Workload",
    "arrival_offsets",
    "load_prompts",
    "percentile",
    "run_bench",
    "summarize",
    "t_interval",
]

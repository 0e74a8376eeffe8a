"""Latency, throughput and dollar-cost benchmarks that say what they measure.

    from aiovertexchat.bench import BenchConfig, Load, SLO, Target, run_bench
    result = await run_bench(BenchConfig(
        targets=[Target("emu")],                     # base_url=None: the embedded emulator
        loads=[Load.concurrency(1), Load.concurrency(8)],
        requests=200, slo=SLO.parse("ttft=500ms,tpot=50ms"),
    ))
    result.points[0].summary.ttft.p99, result.valid

Modules: `sample_stats` (percentiles, t intervals), `metrics` (per-request timelines,
summaries), `slo`, `health` (client-health checks), `arrivals`, `partition` (splitting a load
over workers), `workload`, `datasets` (ShareGPT/JSONL/CSV), `trace` (trace replay), `tokens`
(tokenizer sizing and counts) (all sans-IO); `runner` (one phase), `workers` (worker
processes), `suite` (`run_bench`), `emulated` (emulator child process), `lifeline` (children
die with the bench), `server_metrics` (Prometheus scraper process), `sweep` (max-rate search),
`report` (terminal), `output` (JSON/CSV/JSONL), `html` (self-contained HTML), `plot` (PNG),
`cli`.
"""

from .arrivals import ArrivalProcess, arrival_offsets
from .datasets import DatasetError, LengthRange, load_dataset
from .emulated import EmulatorSettings
from .health import Check, ClientHealth, HealthThresholds
from .metrics import CostSummary, RequestRecord, Summary, TurnSummary, summarize
from .partition import Share
from .runner import Load, StopRule
from .sample_stats import Distribution, Interval, percentile, t_interval
from .server_metrics import ServerMetrics
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
from .tokens import TokenCounter
from .trace import TraceEntry, load_trace
from .workload import LengthSpec, PromptEntry, Workload, load_prompts

__all__ = [
    "SLO",
    "ArrivalProcess",
    "BenchConfig",
    "BenchResult",
    "Check",
    "ClientHealth",
    "CostSummary",
    "DatasetError",
    "Distribution",
    "EmulatorSettings",
    "HealthThresholds",
    "Interval",
    "LengthRange",
    "LengthSpec",
    "Load",
    "MaxRateResult",
    "PointResult",
    "PromptEntry",
    "RepeatResult",
    "RequestRecord",
    "ServerMetrics",
    "Share",
    "StopRule",
    "Summary",
    "Target",
    "TokenCounter",
    "TraceEntry",
    "TurnSummary",
    "Workload",
    "arrival_offsets",
    "load_dataset",
    "load_prompts",
    "load_trace",
    "percentile",
    "run_bench",
    "summarize",
    "t_interval",
]

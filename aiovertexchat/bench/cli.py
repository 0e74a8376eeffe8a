"""`aiovertexchat bench`: the command line over `run_bench` (flags are listed in the README)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from .._protocol.pricing import PriceTable
from ..cli import report
from ..cli.options import (
    add_credential_options,
    add_emulator_knobs,
    add_target_options,
    add_telemetry_options,
    api_keys_by_target,
    duration,
    vertex_base_url,
)
from ..cli.otlp import telemetry_job
from ..cli.report import UsageError
from ..emulator.cli import config_from_options
from .arrivals import ArrivalProcess
from .emulated import EmulatorSettings
from .health import HealthThresholds
from .runner import Load
from .slo import SLO, parse_seconds
from .suite import DEFAULT_MODEL, EMULATOR, BenchConfig, PointResult, Target, run_bench
from .workload import LengthSpec, Workload, load_prompts

__all__ = ["command", "register"]

_COUNTERS: dict[str, Callable[[str], int] | None] = {
    "chunks": None,
    "words": lambda text: len(text.split()),
}


def _numbers(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        try:
            values = [kind(item) for item in text.split(",") if item.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list") from None
        if not values:
            raise argparse.ArgumentTypeError("give at least one value")
        return values

    return parse


def _checked(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """Turn a parser's ValueError into an argparse error that shows its message."""

    def wrapped(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return wrapped


def register(subparsers: Any) -> None:
    """Add the `bench` subcommand to the main parser's subparsers."""
    p = subparsers.add_parser(
        "bench",
        help="latency/throughput/cost benchmark (the embedded emulator by default)",
        description="Benchmark a chat-completions server: TTFT, ITL, TPOT, e2e, throughput, "
        "goodput and dollar cost, with a client-health check that flags runs whose client "
        "could not keep up. Without a target it runs against the embedded emulator.",
    )
    where = p.add_argument_group("targets")
    where.add_argument("--target", action="append", default=[], type=_checked(Target.parse),
                       metavar="NAME=URL[@MODEL]",
                       help="repeatable: compare targets side by side; URL may be 'emulator'")
    where.add_argument("--model", default=DEFAULT_MODEL, help="model for targets that name none")
    where.add_argument("--max-connections", type=int,
                       help="client connection pool size (default: largest concurrency, "
                       "at least 256)")
    # Shared with chat and batch; here --base-url, the Vertex flags and --emulator each add
    # one target, and no target at all means the embedded emulator.
    add_target_options(p, emulator_excludes_url=False,
                       emulator_help="measure the embedded emulator (the default without "
                       "a target)")
    add_credential_options(p, per_target=True)

    load = p.add_argument_group("load")
    kind = load.add_mutually_exclusive_group()
    kind.add_argument("--concurrency", type=_numbers(int), metavar="N[,N...]",
                      help="closed loop: N requests always in flight (default 1)")
    kind.add_argument("--rate", type=_numbers(float), metavar="R[,R...]",
                      help="open loop: R requests/s on a precomputed timeline")
    load.add_argument("--arrivals", default="poisson", type=_checked(ArrivalProcess.parse),
                      help="open-loop arrivals: poisson, constant or gamma:K (default poisson)")
    load.add_argument("--requests", type=int, help="measured requests per load point "
                      "(default 100 unless --duration is given)")
    load.add_argument("--duration", type=duration, metavar="DURATION",
                      help="stop sending after this long (e.g. 30s); with --requests, "
                      "whichever comes first")
    load.add_argument("--warmup", type=int, default=0,
                      help="requests sent before each load point and never counted")
    load.add_argument("--repeat", type=int, default=1,
                      help="repeat each load point; adds confidence intervals")
    load.add_argument("--confidence", type=float, default=0.95,
                      help="confidence level of the intervals (default 0.95)")
    load.add_argument("--find-max-rate", action="store_true",
                      help="search for the highest rate meeting the SLO, starting from --rate")
    load.add_argument("--search-steps", type=int, default=4,
                      help="extra rates the search may try beyond --rate (default 4)")
    load.add_argument("--seed", type=int, default=0)

    work = p.add_argument_group("workload")
    work.add_argument("--prompt-tokens", type=_checked(LengthSpec.parse), default=LengthSpec(128),
                      metavar="N[:SD]", help="synthetic prompt length in words (default 128)")
    work.add_argument("--max-tokens", type=int, default=128, help="output limit (default 128)")
    work.add_argument("--prompts", metavar="FILE.jsonl", help="prompts from a JSONL file")
    work.add_argument("--cache-bust", action="store_true",
                      help="unique prefix per request, defeating server prefix caches")
    work.add_argument("--extra-body", type=json.loads, metavar="JSON",
                      help='merged into each request body, e.g. \'{"ignore_eos": true}\'')
    work.add_argument("--timeout", type=duration, metavar="DURATION", default=300.0,
                      help="per-request timeout (default 300s)")
    work.add_argument("--count-tokens", choices=sorted(_COUNTERS), default="chunks",
                      help="client-side output token count compared with usage (default: "
                      "token chunks)")

    judge = p.add_argument_group("SLO, cost and health")
    judge.add_argument("--slo", type=_checked(SLO.parse), default=SLO(),
                       metavar="ttft=500ms,tpot=50ms,e2e=10s",
                       help="limits that make a request good (ttft, ttfc, tpot, itl, e2e)")
    judge.add_argument("--slo-attainment", type=float, default=0.9,
                       help="good fraction a rate needs to meet the SLO (default 0.9)")
    judge.add_argument("--prices", metavar="FILE.json",
                       help="price table overriding the built-in one")
    judge.add_argument("--health", type=_checked(_thresholds), default=HealthThresholds(),
                       metavar="schedule_lag=10ms,loop_lag=10ms,achieved=0.9,cpu=0.9",
                       help="client-health limits beyond which a run is flagged invalid")

    add_emulator_knobs(p, ttft=0.05, itl=0.005, title="embedded emulator")
    add_telemetry_options(p)

    out = p.add_argument_group("output")
    out.add_argument("--json", metavar="OUT.json", help="summary as JSON")
    out.add_argument("--per-request", metavar="OUT.jsonl", help="one JSON line per request")
    out.add_argument("--csv", metavar="OUT.csv", help="one CSV row per request")
    out.add_argument("--plot", metavar="OUT.png", help="latency CDFs and load curves (matplotlib)")
    out.add_argument("--plain", action="store_true", help="plain-text tables even with rich")
    out.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    out.add_argument("--strict", action="store_true",
                     help="exit with status 3 when any run is flagged invalid")
    p.set_defaults(handler=command)


def _thresholds(text: str) -> HealthThresholds:
    values: dict[str, float] = {}
    names = {"schedule_lag": "schedule_lag_p99_s", "loop_lag": "loop_lag_p99_s",
             "achieved": "min_achieved_fraction", "cpu": "max_cpu_fraction"}
    for item in text.split(","):
        if not item.strip():
            continue
        name, _, value = item.partition("=")
        field = names.get(name.strip())
        if field is None:
            raise ValueError(f"unknown health limit {name.strip()!r}; use {', '.join(names)}")
        values[field] = parse_seconds(value) if field.endswith("_s") else float(value)
    return HealthThresholds(**values)


def _targets(args: argparse.Namespace) -> list[Target]:
    targets: list[Target] = list(args.target)
    if args.base_url:
        targets.append(Target("target", args.base_url))
    vertex = vertex_base_url(args)
    if vertex is not None:
        targets.append(Target("vertex", vertex))
    if args.emulator or not targets:
        targets.append(Target(EMULATOR))
    keys = api_keys_by_target(args, [t.name for t in targets])
    return [
        Target(t.name, t.base_url, t.model, keys.get(t.name), t.client_options)
        for t in targets
    ]


def build_config(args: argparse.Namespace) -> BenchConfig:
    """The `BenchConfig` the flags describe; ValueError says which flag is wrong."""
    if args.rate:
        loads = [Load.rate(r, args.arrivals) for r in args.rate]
    else:
        loads = [Load.concurrency(c) for c in (args.concurrency or [1])]
    requests = args.requests
    if requests is None and args.duration is None:
        requests = 100
    workload = Workload(
        prompt_tokens=args.prompt_tokens,
        max_tokens=args.max_tokens,
        prompts=load_prompts(args.prompts) if args.prompts else None,
        cache_bust=args.cache_bust,
        seed=args.seed,
    )
    return BenchConfig(
        targets=_targets(args),
        model=args.model,
        loads=loads,
        requests=requests,
        duration=args.duration,
        warmup=args.warmup,
        workload=workload,
        slo=args.slo,
        repeat=args.repeat,
        confidence=args.confidence,
        find_max_rate=args.find_max_rate,
        slo_attainment=args.slo_attainment,
        search_steps=args.search_steps,
        timeout=args.timeout,
        extra_body=args.extra_body,
        prices=PriceTable.from_file(args.prices) if args.prices else PriceTable.default(),
        thresholds=args.health,
        token_counter=_COUNTERS[args.count_tokens],
        max_connections=args.max_connections,
        seed=args.seed,
        emulator=_emulator_settings(args),
    )


def _emulator_settings(args: argparse.Namespace) -> EmulatorSettings:
    """The `--emulator-*` flags, read like every CLI reads them, for the emulator process."""
    config = config_from_options(args, seed=args.seed)
    return EmulatorSettings(
        ttft=config.ttft,
        itl=config.itl,
        faults=tuple(str(fault) for fault in config.faults),
        fault_rate=config.fault_rate,
        max_concurrency=config.max_concurrency,
        seed=config.seed,
    )


def _progress(point: PointResult) -> None:
    from .report import summary_line

    flag = "" if point.valid else "  [INVALID: client saturated]"
    print(f"  done {point.target} {point.load.label}: {summary_line(point.summary)}{flag}",
          file=sys.stderr, flush=True)


async def command(args: argparse.Namespace) -> int:
    """Run the benchmark the flags describe, print the report, write the files asked for."""
    from .output import write_csv, write_json, write_jsonl
    from .report import render

    try:
        config = build_config(args)
    except (ValueError, KeyError, OSError, UsageError) as exc:
        report.error(exc)
        return 2
    if not args.quiet:
        config.on_point = _progress
        print("running the benchmark...", file=sys.stderr, flush=True)
    try:
        with telemetry_job(args, "bench"):
            result = await run_bench(config)
    except (ValueError, RuntimeError) as exc:
        # A configuration the client refuses (ConfigurationError is a ValueError), or an
        # embedded emulator that did not start. API errors never get here: they are results.
        report.error(exc)
        return 2
    render(result, use_rich=False if args.plain else None)
    written = []
    if args.json:
        write_json(result, args.json)
        written.append(args.json)
    if args.per_request:
        write_jsonl(result, args.per_request)
        written.append(args.per_request)
    if args.csv:
        write_csv(result, args.csv)
        written.append(args.csv)
    if args.plot:
        from .plot import PlotUnavailableError, write_plot

        try:
            write_plot(result, args.plot)
            written.append(args.plot)
        except PlotUnavailableError as exc:
            report.error(exc)
            return 2
    if written:
        print("wrote " + ", ".join(written))
    return 3 if args.strict and not result.valid else 0

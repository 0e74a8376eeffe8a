"""`aiovertexchat bench`: the command line over `run_bench` (flags are listed in the README)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from .._protocol.pricing import PriceTable
from ..cli import report
from ..cli.options import (
    add_credential_options,
    add_emulator_knobs,
    add_network_options,
    add_target_options,
    add_telemetry_options,
    api_keys_by_target,
    duration,
    network_options,
    vertex_base_url,
)
from ..cli.otlp import telemetry_job
from ..cli.report import UsageError
from ..emulator.cli import config_from_options
from .arrivals import ArrivalProcess
from .datasets import FORMATS, LengthRange, load_dataset, select
from .emulated import EmulatorSettings
from .health import HealthThresholds
from .runner import Load
from .slo import SLO, parse_seconds
from .suite import (
    DEFAULT_MODEL,
    EMULATOR,
    BenchConfig,
    BenchResult,
    PointResult,
    Target,
    run_bench,
)
from .tokens import TokenCounter, count_words
from .trace import load_trace
from .workload import LengthSpec, Workload

__all__ = ["command", "register"]

_COUNTERS = ("chunks", "words", "tokenizer")


def _positive_int_or(word: str) -> Callable[[str], int | str]:
    def parse(text: str) -> int | str:
        if text.strip().lower() == word:
            return word
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: give a whole number or "
                                             f"'{word}'") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{text!r}: must be >= 1")
        return value

    return parse


def _workers(text: str) -> int | str:
    return _positive_int_or("auto")(text)


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
    add_network_options(p)  # for targets other than the embedded emulator

    load = p.add_argument_group("load")
    kind = load.add_mutually_exclusive_group()
    kind.add_argument("--concurrency", type=_numbers(int), metavar="N[,N...]",
                      help="closed loop: N requests always in flight (default 1)")
    kind.add_argument("--rate", type=_numbers(float), metavar="R[,R...]",
                      help="open loop: R requests/s on a precomputed timeline")
    kind.add_argument("--trace", metavar="FILE.jsonl",
                      help="replay a trace (timestamp ms, input_length, output_length per "
                      "line) at its recorded arrival times")
    load.add_argument("--trace-speed", type=_numbers(float), metavar="S[,S...]",
                      help="trace replay speed factors (default 1: as recorded; 2: gaps "
                      "halved)")
    load.add_argument("--trace-block-tokens", type=int, default=512, metavar="N",
                      help="tokens per prefix block of the trace's hash_ids (default 512, "
                      "Mooncake's)")
    load.add_argument("--workers", type=_workers, default=1, metavar="N|auto",
                      help="worker processes sharing each load point, each with its own "
                      "event loop and client (default 1: this process); auto: from the load "
                      "and the cores")
    load.add_argument("--ramp-up", type=duration, default=0.0, metavar="DURATION",
                      help="closed loop: start the N slots evenly over this time")
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
    work.add_argument("--max-tokens", type=_positive_int_or("dataset"), default=128,
                      metavar="N|dataset", help="output limit (default 128); 'dataset': each "
                      "prompt's answer length in the dataset")
    work.add_argument("--prompts", "--dataset", dest="prompts", metavar="FILE",
                      help="prompts from a dataset: ShareGPT .json, .jsonl, or .csv")
    work.add_argument("--dataset-format", choices=FORMATS, default="auto",
                      help="dataset format (default: from the file name)")
    work.add_argument("--prompt-column", default="prompt", metavar="NAME",
                      help="CSV column holding the prompt (default 'prompt')")
    work.add_argument("--answer-column", metavar="NAME",
                      help="CSV column holding the answer (default: completion, response, "
                      "answer or output)")
    work.add_argument("--sample", type=int, metavar="N",
                      help="draw N dataset entries at random (with --seed)")
    work.add_argument("--prompt-length", type=_checked(LengthRange.parse), metavar="MIN:MAX",
                      help="keep dataset prompts of this length (tokenizer tokens with "
                      "--tokenizer, else words)")
    work.add_argument("--turns", type=_positive_int_or("dataset"), default=1, metavar="K",
                      help="multi-turn sessions: K turns each sending the growing history "
                      "('dataset': each conversation's own turns)")
    work.add_argument("--think-time", type=duration, default=0.0, metavar="DURATION",
                      help="pause between a session's turns (default 0s)")
    work.add_argument("--tokenizer", metavar="tokenizer.json",
                      help="a local tokenizer file: prompts sized and tokens counted in its "
                      "tokens (needs the tokenizer extra)")
    work.add_argument("--cache-bust", action="store_true",
                      help="unique prefix per request, defeating server prefix caches")
    work.add_argument("--extra-body", type=json.loads, metavar="JSON",
                      help='merged into each request body, e.g. \'{"ignore_eos": true}\'')
    work.add_argument("--timeout", type=duration, metavar="DURATION", default=300.0,
                      help="per-request timeout (default 300s)")
    work.add_argument("--count-tokens", choices=_COUNTERS,
                      help="client-side output token count compared with usage (default: "
                      "tokenizer with --tokenizer, else token chunks)")

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

    judge.add_argument("--server-metrics", metavar="URL",
                       help="sample this Prometheus endpoint during each load point "
                       "(vLLM/SGLang/TGI /metrics; needs the metrics extra)")
    judge.add_argument("--server-metrics-interval", type=duration, default=1.0,
                       metavar="DURATION", help="sampling interval (default 1s)")
    judge.add_argument("--server-metric", action="append", default=[], metavar="NAME",
                       help="also follow this Prometheus metric (repeatable)")

    add_emulator_knobs(p, ttft=0.05, itl=0.005, title="embedded emulator")
    add_telemetry_options(p)

    out = p.add_argument_group("output")
    out.add_argument("--json", metavar="OUT.json", help="summary as JSON")
    out.add_argument("--per-request", metavar="OUT.jsonl", help="one JSON line per request")
    out.add_argument("--csv", metavar="OUT.csv", help="one CSV row per request")
    out.add_argument("--plot", metavar="OUT.png", help="latency CDFs and load curves (matplotlib)")
    out.add_argument("--html", metavar="OUT.html",
                     help="a self-contained HTML report with charts (opens offline)")
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
    network = network_options(args)
    return [
        Target(t.name, t.base_url, t.model, keys.get(t.name),
               t.client_options if t.base_url is None else {**network, **t.client_options})
        for t in targets
    ]


def _workload(args: argparse.Namespace) -> Workload:
    tokenizer = TokenCounter(args.tokenizer) if args.tokenizer else None
    from_dataset = args.max_tokens == "dataset"
    trace = load_trace(args.trace) if args.trace else None
    prompts = None
    if args.prompts:
        entries = load_dataset(
            args.prompts, fmt=args.dataset_format, counter=tokenizer,
            prompt_column=args.prompt_column, answer_column=args.answer_column,
            need_answers=from_dataset,
        )
        prompts = select(entries, sample=args.sample, seed=args.seed,
                         prompt_length=args.prompt_length, counter=tokenizer)
    elif from_dataset:
        raise UsageError("--max-tokens dataset needs a dataset (--prompts FILE)")
    elif args.sample is not None or args.prompt_length is not None:
        raise UsageError("--sample and --prompt-length select from a dataset: give "
                         "--prompts FILE")
    return Workload(
        prompt_tokens=args.prompt_tokens,
        max_tokens=None if from_dataset else args.max_tokens,
        max_tokens_from_dataset=from_dataset,
        prompts=prompts,
        cache_bust=args.cache_bust,
        seed=args.seed,
        tokenizer=tokenizer,
        turns=args.turns,
        think_time=args.think_time,
        trace=trace,
        trace_block_tokens=args.trace_block_tokens,
    )


def _counter(args: argparse.Namespace, workload: Workload) -> Callable[[str], int] | None:
    name = args.count_tokens or ("tokenizer" if workload.tokenizer is not None else "chunks")
    if name == "tokenizer":
        if workload.tokenizer is None:
            raise UsageError("--count-tokens tokenizer needs --tokenizer FILE")
        return workload.tokenizer
    return count_words if name == "words" else None


def build_config(args: argparse.Namespace) -> BenchConfig:
    """The `BenchConfig` the flags describe; ValueError says which flag is wrong."""
    if args.trace_speed and not args.trace:
        raise UsageError("--trace-speed applies to --trace")
    if args.trace:
        loads = [Load.trace(s) for s in (args.trace_speed or [1.0])]
    elif args.rate:
        loads = [Load.rate(r, args.arrivals) for r in args.rate]
    else:
        loads = [Load.concurrency(c) for c in (args.concurrency or [1])]
    workload = _workload(args)
    requests = args.requests
    if requests is None and args.duration is None:
        requests = len(workload.trace) if workload.trace is not None else 100
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
        token_counter=_counter(args, workload),
        max_connections=args.max_connections,
        seed=args.seed,
        emulator=_emulator_settings(args),
        ramp_up=args.ramp_up,
        workers=args.workers,
        server_metrics=args.server_metrics,
        server_metrics_interval=args.server_metrics_interval,
        server_metric_names=tuple(args.server_metric),
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
    """Run the benchmark the flags describe, print the report, write the files asked for.

    Ctrl-C or SIGTERM stops the run at once (requests in flight are cancelled, child processes
    stopped), then the load points that had finished are reported and written like a full run;
    the exit status is then 128 + the signal (130 for Ctrl-C, 143 for SIGTERM).
    """
    try:
        config = build_config(args)
    except (ValueError, KeyError, OSError, UsageError) as exc:
        report.error(exc)
        return 2
    finished: list[PointResult] = []
    user_on_point = None if args.quiet else _progress

    def on_point(point: PointResult) -> None:
        finished.append(point)
        if user_on_point is not None:
            user_on_point(point)

    config.on_point = on_point
    if not args.quiet:
        print("running the benchmark...", file=sys.stderr, flush=True)
    # One job span over the whole run (when a provider is configured): the calls nest in it.
    with telemetry_job(args, "bench"):
        run = asyncio.ensure_future(run_bench(config))
        stopped_by: list[signal.Signals] = []
        with _stop_on_signals(run, stopped_by):
            try:
                result = await run
            except asyncio.CancelledError:
                if not stopped_by or not run.cancelled():
                    raise  # cancelled from outside: not ours to report
                result = BenchResult(config, list(finished), [], time.time(),
                                     interrupted=stopped_by[0].name)
            except (ValueError, RuntimeError) as exc:
                # A configuration the client refuses (ConfigurationError is a ValueError), or an
                # embedded emulator that did not start. API errors never get here: they are results.
                report.error(exc)
                return 2
    if result.interrupted:
        print(f"stopped by {result.interrupted}: reporting the {len(result.points)} load "
              "point(s) that finished", file=sys.stderr, flush=True)
    code = _write_outputs(args, result)
    if code:
        return code
    if stopped_by:
        return 128 + int(stopped_by[0])
    return 3 if args.strict and not result.valid else 0


@contextlib.contextmanager
def _stop_on_signals(
    run: asyncio.Future[Any], stopped_by: list[signal.Signals]
) -> Iterator[None]:
    """While the run goes, SIGINT/SIGTERM cancel it (once; a second signal changes nothing)."""
    loop = asyncio.get_running_loop()
    installed = []

    def stop(signum: signal.Signals) -> None:
        if not stopped_by:
            stopped_by.append(signum)
            print(f"\n{signum.name}: stopping (requests in flight are cancelled)...",
                  file=sys.stderr, flush=True)
            run.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop, signum)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or not a Unix loop: default behaviour
        installed.append(signum)
    try:
        yield
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _write_outputs(args: argparse.Namespace, result: BenchResult) -> int:
    from .output import write_csv, write_json, write_jsonl
    from .report import render

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
    if args.html:
        from .html import write_html

        write_html(result, args.html)
        written.append(args.html)
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
    return 0

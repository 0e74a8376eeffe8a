"""The terminal report: rich tables when `rich` is installed, aligned plain text otherwise.

Both renderers draw the same `Table` objects, built here from a `BenchResult`: one latency
table per (target, load), then throughput/goodput/cost, client health, confidence intervals
across repeats, and the max-rate search when one ran.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from .metrics import Summary
from .sample_stats import Distribution
from .suite import BenchResult, PointResult, usable_cores

__all__ = ["Table", "build_tables", "render"]

_LATENCY_ROWS = (
    ("ttft", "TTFT (first content token)"),
    ("ttfc", "time to first chunk"),
    ("ttfr", "time to first reasoning"),
    ("ttfh", "time to headers"),
    ("itl", "ITL (inter-chunk gap)"),
    ("tpot", "TPOT (per output token)"),
    ("e2e", "end-to-end"),
)


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    numeric_from: int = 1
    """Columns from this index on are right-aligned."""


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.1f}"


def _num(value: float | None, fmt: str = ",.1f") -> str:
    return "-" if value is None else format(value, fmt)


def _sig(value: float) -> str:
    """Three significant digits without exponent notation (0.0000584, 6.87, 1,449)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = min(8, max(0, 2 - math.floor(math.log10(abs(value)))))
    return f"{value:,.{decimals}f}"


def _opt_sig(value: float | None) -> str:
    return "-" if value is None else _sig(value)


def _usd(value: float | None) -> str:
    return "-" if value is None else "$" + _sig(value)


def _point_name(point: PointResult, multi_target: bool) -> str:
    return f"{point.target} · {point.load.label}" if multi_target else point.load.label


def _latency_table(point: PointResult, multi_target: bool) -> Table:
    s = point.summary
    reps = f", {len(point.repeats)} repeats pooled" if len(point.repeats) > 1 else ""
    table = Table(
        f"Latency (ms) — {_point_name(point, multi_target)} — {s.ok}/{s.requests} ok{reps}",
        ["metric", "n", "mean", "p50", "p90", "p95", "p99", "max"],
    )
    for name, label in _LATENCY_ROWS:
        dist = s.latency(name)
        if dist is None:
            continue
        table.rows.append(
            [label, str(dist.count), *(_ms(dist.get(k)) for k in
                                       ("mean", "p50", "p90", "p95", "p99", "max"))]
        )
    notes = table.notes
    if s.tpot_excluded:
        notes.append(f"TPOT leaves out {s.tpot_excluded} request(s) with < 2 output tokens")
    if s.tokens_per_chunk is not None and abs(s.tokens_per_chunk - 1.0) > 0.05:
        notes.append(f"{s.tokens_per_chunk:.2f} output tokens per token chunk: ITL spans "
                     "several tokens; TPOT is the per-token figure")
    if s.usage_missing:
        notes.append(f"{s.usage_missing} request(s) sent no usage: their tokens are the "
                     "client-side count")
    if s.token_discrepancy is not None and abs(s.token_discrepancy) > 0.005:
        notes.append(f"client-side output token count differs from usage by "
                     f"{s.token_discrepancy:+.1%}")
    if s.errors:
        notes.append("errors: " + ", ".join(f"{k} {v}" for k, v in s.errors.items()))
    if s.slo_violations:
        notes.append("SLO misses: " + ", ".join(f"{k} {v}" for k, v in s.slo_violations.items()))
    return table


def _throughput_tables(
    points: Sequence[PointResult], has_slo: bool, multi: bool
) -> list[Table]:
    speed = Table(
        "Throughput and goodput",
        ["run", "ok/sent", "err %", "req/s", "out tok/s", "goodput/s", "good %"],
    )
    money = Table("Cost (USD, from usage)", ["run", "total", "per request", "per 1M out",
                                             "per good req"])
    notes: set[str] = set()
    for p in points:
        s = p.summary
        cost = s.cost
        name = _point_name(p, multi)
        if s.cost_note:
            notes.add(f"{p.target}: {s.cost_note}")
        speed.rows.append([
            name,
            f"{s.ok}/{s.requests}",
            f"{s.error_rate:.1%}",
            _num(s.request_throughput, ",.2f"),
            _num(s.output_token_throughput, ",.0f"),
            _num(s.goodput, ",.2f") if has_slo else "-",
            f"{s.good_fraction:.1%}" if s.good_fraction is not None else "-",
        ])
        money.rows.append([
            name,
            _usd(cost.total_usd if cost else None),
            _usd(cost.per_request_usd if cost else None),
            _usd(cost.per_million_output_usd if cost else None),
            _usd(cost.per_good_request_usd if cost else None),
        ])
    money.notes.extend(sorted(notes))
    return [speed, money]


def _achieved(point: PointResult) -> str:
    """Achieved/target load of the repeat that fell furthest short."""
    best: tuple[float, str] | None = None
    for r in point.repeats:
        h = r.health
        if h.achieved_load is None or not h.scheduled_load:
            continue
        ratio = h.achieved_load / h.scheduled_load
        if best is None or ratio < best[0]:
            best = (ratio, f"{h.achieved_load:.3g}/{h.scheduled_load:.3g}")
    return "-" if best is None else best[1]


def _worst(point: PointResult, pick: str) -> float | None:
    values = []
    for r in point.repeats:
        dist: Distribution | None = getattr(r.health, pick)
        if dist is not None:
            values.append(dist.p99)
    return max(values) if values else None


def _health_table(points: Sequence[PointResult], multi: bool) -> Table:
    table = Table(
        "Client health (is the client the bottleneck?) — lags and waits are p99, ms",
        ["run", "achieved/target", "sched lag", "loop lag", "gate wait", "CPU", "in flight",
         "verdict"],
    )
    suggest = False
    for p in points:
        cpus = [r.health.cpu_fraction for r in p.repeats if r.health.cpu_fraction is not None]
        peak = max(r.health.peak_in_flight for r in p.repeats)
        pool = p.repeats[0].health.pool_size
        workers = max(r.workers for r in p.repeats)
        name = _point_name(p, multi)
        table.rows.append([
            name + (f" ({workers} workers)" if workers > 1 else ""),
            _achieved(p),
            _ms(_worst(p, "schedule_lag")),
            _ms(_worst(p, "loop_lag")),
            _ms(_worst(p, "gate_wait")),
            f"{max(cpus):.0%}" if cpus else "-",
            f"{peak}/{pool}" if pool else str(peak),
            "ok" if p.valid else "INVALID",
        ])
        if workers > 1:
            for number, worker in enumerate(p.repeats[0].health.workers):
                lag = worker.schedule_lag.p99 if worker.schedule_lag else None
                loop = worker.loop_lag.p99 if worker.loop_lag else None
                gate = worker.gate_wait.p99 if worker.gate_wait else None
                table.rows.append([
                    f"  worker {number}",
                    "-" if worker.achieved_load is None or not worker.scheduled_load else
                    f"{worker.achieved_load:.3g}/{worker.scheduled_load:.3g}",
                    _ms(lag), _ms(loop), _ms(gate),
                    "-" if worker.cpu_fraction is None else f"{worker.cpu_fraction:.0%}",
                    str(worker.peak_in_flight), "ok" if worker.valid else "INVALID",
                ])
        for reason in p.reasons:
            table.notes.append(f"INVALID {_point_name(p, True)}: {reason}")
        if workers == 1 and any(r.health.saturated for r in p.repeats):
            suggest = True
    if suggest:
        table.notes.append(
            f"the client's one event loop was saturated (CPU or loop lag): run with --workers "
            f"N (or --workers auto; this machine has {usable_cores()} usable cores) to spread "
            "the load over N processes, each with its own loop and client")
    return table


def _turn_table(points: Sequence[PointResult], multi: bool) -> Table | None:
    table = Table("By turn (multi-turn sessions): the history grows with each turn",
                  ["run", "turn", "ok/sent", "TTFT p50", "TTFT p99", "e2e p50",
                   "prompt tok", "cached tok"])
    for p in points:
        for t in p.summary.by_turn:
            table.rows.append([
                _point_name(p, multi), str(t.turn), f"{t.ok}/{t.requests}",
                _ms(t.ttft.p50 if t.ttft else None), _ms(t.ttft.p99 if t.ttft else None),
                _ms(t.e2e.p50 if t.e2e else None), _num(t.prompt_tokens_mean, ",.0f"),
                _num(t.cached_tokens_mean, ",.0f"),
            ])
    if table.rows:
        table.notes.append("times in ms; prompt and cached tokens are the server's means")
    return table if table.rows else None


def _server_table(points: Sequence[PointResult], multi: bool) -> Table | None:
    table = Table("Server metrics (Prometheus, during each load point)",
                  ["run", "metric", "kind", "before", "after", "delta", "min", "mean", "max"])
    for p in points:
        for r in p.repeats:
            server = r.server_metrics
            if server is None:
                continue
            run = _point_name(p, multi) + (f" r{r.repeat}" if len(p.repeats) > 1 else "")
            data = server.to_dict()["metrics"]
            for name, entry in data.items():
                table.rows.append([
                    run, name, entry["kind"], _opt_sig(entry["before"]),
                    _opt_sig(entry["after"]), _opt_sig(entry.get("delta")),
                    *(_opt_sig(entry.get(k)) for k in ("min", "mean", "max")),
                ])
            if server.errors:
                table.notes.append(f"{run}: {server.errors} scrape(s) failed: "
                                   f"{server.last_error}")
            if not data:
                table.notes.append(f"{run}: the endpoint exposed none of the followed metrics")
    return table if table.rows or table.notes else None


_INTERVAL_ROWS = (
    ("ttft_p50", "TTFT p50 (ms)", 1000.0), ("ttft_p99", "TTFT p99 (ms)", 1000.0),
    ("tpot_p50", "TPOT p50 (ms)", 1000.0), ("e2e_p50", "e2e p50 (ms)", 1000.0),
    ("request_throughput", "req/s", 1.0), ("output_token_throughput", "out tok/s", 1.0),
    ("goodput", "goodput/s", 1.0),
)


def _interval_table(points: Sequence[PointResult], level: float, multi: bool) -> Table | None:
    table = Table(
        f"Across repeats: {level:.0%} Student-t interval of the per-repeat value",
        ["run", "metric", "mean", "±", "low", "high"],
        numeric_from=2,
    )
    for p in points:
        for key, label, scale in _INTERVAL_ROWS:
            interval = p.intervals.get(key)
            if interval is None:
                continue
            table.rows.append([
                _point_name(p, multi), label, _sig(interval.mean * scale),
                _sig(interval.half_width * scale), _sig(interval.low * scale),
                _sig(interval.high * scale),
            ])
    return table if table.rows else None


def _max_rate_table(result: BenchResult) -> Table | None:
    if not result.max_rates:
        return None
    table = Table("Highest rate meeting the SLO", ["target", "max rate", "probes (rate: verdict)"])
    for m in result.max_rates:
        probes = "; ".join(f"{p.rate:.3g}/s {'pass' if p.passed else 'fail'} ({p.why})"
                           for p in m.probes)
        if m.max_rate is None:
            best = "none passed"
        elif m.lower_bound:
            best = f"≥ {m.max_rate:.3g} req/s"
            table.notes.append(f"{m.target}: every rate tried passed; the maximum is at least "
                               f"{m.max_rate:.3g} req/s (raise --search-steps or the rates to "
                               "find it)")
        else:
            best = f"{m.max_rate:.3g} req/s"
        table.rows.append([m.target, best, probes])
        if m.limited_by_client:
            table.notes.append(f"{m.target}: some probes were limited by the client, not the "
                               "server; the true maximum may be higher")
    return table


def header_lines(result: BenchResult) -> list[str]:
    config = result.config
    w = config.workload
    lines = []
    for t in config.targets:
        where = t.base_url or f"embedded emulator ({config.emulator.describe()})"
        lines.append(f"target {t.name}: {where}, model {config.model_for(t)}")
    stop = []
    if config.requests is not None:
        stop.append(f"{config.requests} requests")
    if config.duration is not None:
        stop.append(f"{config.duration:g} s")
    unit = "tokens" if w.tokenizer is not None else "words"
    if w.trace is not None:
        prompts = f"{len(w.trace)} trace requests (their own lengths)"
    elif w.prompts:
        prompts = f"{len(w.prompts)} prompts from file"
    else:
        prompts = f"{w.prompt_tokens} prompt {unit}"
    limit = "from the dataset" if w.max_tokens_from_dataset else str(w.max_tokens)
    if w.trace is not None:
        limit = "from the trace"
    lines.append(
        f"per load point: {' or '.join(stop)} (+{config.warmup} warm-up, not counted), "
        f"{prompts}, max_tokens {limit}"
        + (", cache-busting prefix" if w.cache_bust else "")
        + (f", {config.repeat} repeats" if config.repeat > 1 else "")
    )
    if w.sessions:
        turns = "each conversation's own" if w.turns == "dataset" else str(w.turns)
        lines.append(f"sessions: {turns} turns, each sending the growing history"
                     + (f", {w.think_time:g} s think time" if w.think_time else "")
                     + "; --requests counts conversations")
    if w.tokenizer is not None:
        lines.append(f"tokenizer: {w.tokenizer.path}")
    if config.workers != 1:
        lines.append(f"worker processes: {config.workers} (one event loop and client each)")
    if config.ramp_up:
        lines.append(f"ramp-up: {config.ramp_up:g} s")
    if config.slo:
        lines.append(f"SLO: {config.slo.describe()} (good = succeeded and met every limit)")
    return lines


def build_tables(result: BenchResult) -> list[Table]:
    multi = len(result.config.targets) > 1
    tables = [_latency_table(p, multi) for p in result.points]
    tables.extend(_throughput_tables(result.points, bool(result.config.slo), multi))
    tables.append(_health_table(result.points, multi))
    for extra in (_turn_table(result.points, multi), _server_table(result.points, multi),
                  _interval_table(result.points, result.config.confidence, multi),
                  _max_rate_table(result)):
        if extra is not None:
            tables.append(extra)
    return tables


def _verdict(result: BenchResult) -> str:
    if result.valid:
        return "client health: every run valid (the client kept up with its schedule)"
    bad = sum(1 for p in result.points if not p.valid)
    return (f"INVALID: {bad} of {len(result.points)} runs had a saturated client; their "
            "latencies include client-side delay and are not server latency")


def _render_plain(tables: Sequence[Table], out: TextIO) -> None:
    for table in tables:
        widths = [len(h) for h in table.headers]
        for row in table.rows:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

        def line(cells: Sequence[str], t: Table = table, ws: list[int] = widths) -> str:
            return "  ".join(
                c.rjust(w) if i >= t.numeric_from else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, ws, strict=True))
            ).rstrip()

        out.write(f"\n{table.title}\n")
        out.write(line(table.headers) + "\n")
        out.write("  ".join("-" * w for w in widths) + "\n")
        for row in table.rows:
            out.write(line(row) + "\n")
        for note in table.notes:
            out.write(f"  note: {note}\n")


def _render_rich(tables: Sequence[Table], out: TextIO) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable

    tty = out.isatty()
    console = Console(file=out, width=None if tty else 160, highlight=False, soft_wrap=False)
    for table in tables:
        rich_table = RichTable(title=table.title, box=box.SIMPLE, title_justify="left")
        for i, header in enumerate(table.headers):
            # Fold rather than cut: a narrow terminal wraps a cell instead of hiding digits.
            rich_table.add_column(header, justify="right" if i >= table.numeric_from else "left",
                                  overflow="fold")
        for row in table.rows:
            styled = [f"[bold red]{c}[/]" if c == "INVALID" else c for c in row]
            rich_table.add_row(*styled)
        console.print(rich_table)
        for note in table.notes:
            console.print(f"  note: {note}", markup=False)


def render(result: BenchResult, out: TextIO | None = None, *, use_rich: bool | None = None) -> None:
    """Print the report; `use_rich=None` uses rich when it is installed."""
    out = out if out is not None else sys.stdout
    if use_rich is None:
        try:
            import rich  # noqa: F401
        except ImportError:
            use_rich = False
        else:
            use_rich = True
    for line in header_lines(result):
        out.write(line + "\n")
    if result.interrupted:
        out.write(f"INTERRUPTED by {result.interrupted}: only the {len(result.points)} load "
                  "point(s) that finished are reported\n")
    tables = build_tables(result)
    if use_rich:
        _render_rich(tables, out)
    else:
        _render_plain(tables, out)
    out.write("\n" + _verdict(result) + "\n")


def summary_line(summary: Summary) -> str:
    """One line for progress output."""
    ttft = summary.ttft.p50 if summary.ttft else None
    return (f"{summary.ok}/{summary.requests} ok, {summary.request_throughput:.2f} req/s, "
            f"TTFT p50 {_ms(ttft)} ms")

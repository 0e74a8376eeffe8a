"""The terminal report: rich tables when `rich` is installed, aligned plain text otherwise.

Both renderers draw the same `Table` objects, built here from a `BenchResult`: one latency
table per (target, load), then throughput/goodput/cost, client health, confidence intervals
across repeats, and the max-rate search when one ran.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from .metrics import Summary
from .stats import Distribution
from .suite import BenchResult, PointResult

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


def _usd(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"${value:,.0f}"
    return f"${value:.2f}" if value >= 1 else f"${value:.3g}"


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


def _throughput_table(points: Sequence[PointResult], has_slo: bool) -> Table:
    table = Table(
        "Throughput, goodput and cost",
        ["target", "load", "ok/sent", "err %", "req/s", "out tok/s", "goodput/s", "good %",
         "$/req", "$/1M out", "$/good req"],
        numeric_from=2,
    )
    notes: set[str] = set()
    for p in points:
        s = p.summary
        cost = s.cost
        if s.cost_note:
            notes.add(f"{p.target}: {s.cost_note}")
        table.rows.append([
            p.target,
            p.load.label,
            f"{s.ok}/{s.requests}",
            f"{s.error_rate:.1%}",
            _num(s.request_throughput, ",.2f"),
            _num(s.output_token_throughput, ",.0f"),
            _num(s.goodput, ",.2f") if has_slo else "-",
            f"{s.good_fraction:.1%}" if s.good_fraction is not None else "-",
            _usd(cost.per_request_usd if cost else None),
            _usd(cost.per_million_output_usd if cost else None),
            _usd(cost.per_good_request_usd if cost else None),
        ])
    table.notes.extend(sorted(notes))
    return table


def _achieved(point: PointResult) -> str:
    parts = []
    for r in point.repeats:
        h = r.health
        if h.achieved_load is None or h.scheduled_load is None:
            parts.append("-")
        elif h.load_kind == "rate":
            parts.append(f"{h.achieved_load:.3g}/{h.scheduled_load:.3g}/s")
        else:
            parts.append(f"{h.achieved_load:.3g}/{h.scheduled_load:.3g}")
    return " ".join(parts)


def _worst(point: PointResult, pick: str) -> float | None:
    values = []
    for r in point.repeats:
        dist: Distribution | None = getattr(r.health, pick)
        if dist is not None:
            values.append(dist.p99)
    return max(values) if values else None


def _health_table(points: Sequence[PointResult]) -> Table:
    table = Table(
        "Client health (is the client the bottleneck?)",
        ["target", "load", "achieved/target", "sched lag p99", "loop lag p99", "gate wait p99",
         "CPU", "peak in flight", "verdict"],
        numeric_from=2,
    )
    for p in points:
        cpus = [r.health.cpu_fraction for r in p.repeats if r.health.cpu_fraction is not None]
        peak = max(r.health.peak_in_flight for r in p.repeats)
        pool = p.repeats[0].health.pool_size
        table.rows.append([
            p.target,
            p.load.label,
            _achieved(p),
            _ms(_worst(p, "schedule_lag")) + " ms",
            _ms(_worst(p, "loop_lag")) + " ms",
            _ms(_worst(p, "gate_wait")) + " ms",
            f"{max(cpus):.0%}" if cpus else "-",
            f"{peak}/{pool}" if pool else str(peak),
            "ok" if p.valid else "INVALID",
        ])
        for reason in p.reasons:
            table.notes.append(f"INVALID {p.target} {p.load.label}: {reason}")
    return table


def _interval_table(points: Sequence[PointResult], level: float) -> Table | None:
    names = [
        ("ttft_p50", "TTFT p50 ms", 1000.0), ("ttft_p99", "TTFT p99 ms", 1000.0),
        ("tpot_p50", "TPOT p50 ms", 1000.0), ("e2e_p50", "E2E p50 ms", 1000.0),
        ("request_throughput", "req/s", 1.0), ("output_token_throughput", "out tok/s", 1.0),
        ("goodput", "goodput/s", 1.0),
    ]
    rows = []
    for p in points:
        if not p.intervals:
            continue
        cells = [p.target, p.load.label]
        for key, _, scale in names:
            interval = p.intervals.get(key)
            cells.append("-" if interval is None else
                         f"{interval.mean * scale:,.3g} ± {interval.half_width * scale:,.2g}")
        rows.append(cells)
    if not rows:
        return None
    return Table(
        f"Across repeats: mean ± {level:.0%} Student-t half-width of the per-repeat value",
        ["target", "load", *(label for _, label, _ in names)],
        rows,
        numeric_from=2,
    )


def _max_rate_table(result: BenchResult) -> Table | None:
    if not result.max_rates:
        return None
    table = Table("Highest rate meeting the SLO", ["target", "max rate", "probes (rate: verdict)"])
    for m in result.max_rates:
        probes = "; ".join(f"{p.rate:.3g}/s {'pass' if p.passed else 'fail'} ({p.why})"
                           for p in m.probes)
        best = "none passed" if m.max_rate is None else f"{m.max_rate:.3g} req/s"
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
    prompts = (f"{len(w.prompts)} prompts from file" if w.prompts
               else f"{w.prompt_tokens} prompt words")
    lines.append(
        f"per load point: {' or '.join(stop)} (+{config.warmup} warm-up, not counted), "
        f"{prompts}, max_tokens {w.max_tokens}"
        + (", cache-busting prefix" if w.cache_bust else "")
        + (f", {config.repeat} repeats" if config.repeat > 1 else "")
    )
    if config.slo:
        lines.append(f"SLO: {config.slo.describe()} (good = succeeded and met every limit)")
    return lines


def build_tables(result: BenchResult) -> list[Table]:
    multi = len(result.config.targets) > 1
    tables = [_latency_table(p, multi) for p in result.points]
    tables.append(_throughput_table(result.points, bool(result.config.slo)))
    tables.append(_health_table(result.points))
    for extra in (_interval_table(result.points, result.config.confidence),
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
            rich_table.add_column(header, justify="right" if i >= table.numeric_from else "left")
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

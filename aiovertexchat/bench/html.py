"""`--html OUT.html`: the whole report in one self-contained file that opens offline.

No script, no font, no image and no stylesheet is fetched: the charts are inline SVG drawn
here, the styles are inline CSS. The file holds the terminal report's tables (latency,
throughput and goodput, cost, client health, turns, server metrics, intervals, max rate) and
these charts:
- TTFT and end-to-end CDFs (one curve per target and load);
- TTFT p50/p99 and e2e p50 against load, output-token and request throughput against load;
- per-second time series of each load point: completed requests/s, TTFT p50 of the requests
  whose first token came in that second, and errors/s;
- TTFT p50 by turn index (multi-turn sessions);
- each server metric over time (`--server-metrics`).
Every chart is an `<svg class="chart">` with one `<path class="series">` per line, which is
what the tests look for in a headless browser.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from .report import Table, build_tables, header_lines
from .sample_stats import percentile
from .suite import BenchResult, PointResult

__all__ = ["render_html", "write_html"]

_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22")
_W, _H = 560, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 16, 34, 44

Series = tuple[str, list[tuple[float, float]]]

_CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px;
       color: #222; background: #fff; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #444; margin: 2px 0; font-family: ui-monospace, monospace; font-size: 12px; }
.verdict { padding: 8px 12px; border-radius: 6px; margin: 12px 0; font-weight: 600; }
.ok { background: #e6f4ea; color: #1e6b34; } .bad { background: #fce8e6; color: #a50e0e; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { background: #fafafa; border: 1px solid #ddd; border-radius: 6px; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #333; }
svg.chart .title { font-size: 13px; font-weight: 600; }
svg.chart .axis { stroke: #888; } svg.chart .gridline { stroke: #e3e3e3; }
table { border-collapse: collapse; margin: 6px 0 4px; font-size: 13px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e5e5e5; white-space: nowrap; }
th { text-align: left; background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.invalid { color: #a50e0e; font-weight: 700; }
.note { color: #555; font-size: 12px; margin: 1px 0 1px 8px; }
"""


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks: list[float] = []
    value = first
    while len(ticks) < 50:
        ticks.append(round(value, 12))
        if value >= high:
            break
        value += step
    return ticks


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def line_chart(title: str, series: Sequence[Series], x_label: str, y_label: str, *,
               step: bool = False, y_from_zero: bool = True, chart_id: str = "") -> str:
    """An inline SVG line chart; `step` draws a staircase (CDFs, legend at the bottom right,
    where a CDF leaves room; elsewhere at the top left)."""
    drawn = [(label, pts) for label, pts in series if pts]
    xs = [x for _, pts in drawn for x, _ in pts]
    ys = [y for _, pts in drawn for _, y in pts]
    out = [f'<svg class="chart" id="{html.escape(chart_id)}" xmlns="http://www.w3.org/2000/svg"'
           f' width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" role="img"'
           f' aria-label="{html.escape(title)}" data-series="{len(drawn)}">',
           f'<text class="title" x="{_LEFT}" y="20">{html.escape(title)}</text>']
    if not drawn:
        out.append(f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">no data</text></svg>')
        return "".join(out)
    x_ticks = _nice_ticks(min(xs), max(xs))
    y_ticks = _nice_ticks(0.0 if y_from_zero else min(ys), max(ys))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]
    plot_w, plot_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def px(x: float) -> float:
        return _LEFT + (x - x0) / ((x1 - x0) or 1.0) * plot_w

    def py(y: float) -> float:
        return _TOP + plot_h - (y - y0) / ((y1 - y0) or 1.0) * plot_h

    for y in y_ticks:
        out.append(f'<line class="gridline" x1="{_LEFT}" x2="{_LEFT + plot_w}" '
                   f'y1="{py(y):.1f}" y2="{py(y):.1f}"/>'
                   f'<text x="{_LEFT - 6}" y="{py(y) + 4:.1f}" text-anchor="end">'
                   f'{_fmt(y)}</text>')
    for x in x_ticks:
        out.append(f'<text x="{px(x):.1f}" y="{_TOP + plot_h + 16}" text-anchor="middle">'
                   f'{_fmt(x)}</text>')
    out.append(f'<line class="axis" x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" '
               f'y2="{_TOP + plot_h}"/><line class="axis" x1="{_LEFT}" x2="{_LEFT + plot_w}" '
               f'y1="{_TOP + plot_h}" y2="{_TOP + plot_h}"/>')
    out.append(f'<text x="{_LEFT + plot_w / 2}" y="{_H - 8}" text-anchor="middle">'
               f'{html.escape(x_label)}</text>')
    out.append(f'<text transform="translate(14 {_TOP + plot_h / 2}) rotate(-90)" '
               f'text-anchor="middle">{html.escape(y_label)}</text>')
    for number, (label, pts) in enumerate(drawn):
        color = _COLORS[number % len(_COLORS)]
        path = []
        for i, (x, y) in enumerate(pts):
            if step and i:
                path.append(f"H{px(x):.1f}")
            path.append(f"{'M' if i == 0 else 'L'}{px(x):.1f},{py(y):.1f}")
        out.append(f'<path class="series" data-label="{html.escape(label)}" fill="none" '
                   f'stroke="{color}" stroke-width="2" d="{" ".join(path)}"/>')
        if len(pts) == 1 or not step:
            out.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{color}"/>'
                       for x, y in pts[:200])
        if step:
            legend_x, legend_y = _LEFT + plot_w - 150, _TOP + plot_h - 14 - 15 * (
                len(drawn) - 1 - number)
        else:
            legend_x, legend_y = _LEFT + 10, _TOP + 4 + 15 * number
        out.append(f'<rect x="{legend_x}" y="{legend_y}" width="10" height="10" '
                   f'fill="{color}"/><text x="{legend_x + 14}" y="{legend_y + 9}">'
                   f'{html.escape(label[:26])}</text>')
    out.append("</svg>")
    return "".join(out)


def _name(point: PointResult, multi: bool) -> str:
    return f"{point.target} {point.load.label}" if multi else point.load.label


def _cdf(points: Sequence[PointResult], metric: str, multi: bool) -> list[Series]:
    series = []
    for point in points:
        values = sorted(v * 1000 for r in point.repeats for rec in r.records if rec.ok
                        for v in [getattr(rec, metric)] if v is not None)
        if len(values) > 400:  # keep the file small: 400 evenly spaced quantiles
            values = [percentile(values, q / 4) for q in range(401)]
        n = len(values)
        series.append((_name(point, multi), [(v, (i + 1) / n) for i, v in enumerate(values)]))
    return series


def _per_second(point: PointResult) -> dict[str, list[tuple[float, float]]]:
    """Per-second bins of the first repeat: completions, TTFT p50, errors."""
    repeat = point.repeats[0]
    start = repeat.window_start
    done: dict[int, int] = defaultdict(int)
    errors: dict[int, int] = defaultdict(int)
    ttfts: dict[int, list[float]] = defaultdict(list)
    last = 0
    for rec in repeat.records:
        if rec.end_at is not None:
            second = max(0, int(rec.end_at - start))
            last = max(last, second)
            (done if rec.ok else errors)[second] += 1
        if rec.ok and rec.first_content_at is not None and rec.ttft is not None:
            ttfts[max(0, int(rec.first_content_at - start))].append(rec.ttft * 1000)
    seconds = range(last + 1)
    return {
        "throughput": [(s + 0.5, float(done[s])) for s in seconds],
        "ttft": [(s + 0.5, percentile(sorted(ttfts[s]), 50)) for s in seconds if ttfts[s]],
        "errors": [(s + 0.5, float(errors[s])) for s in seconds],
    }


def _by_load(points: Sequence[PointResult]) -> tuple[str, dict[str, list[PointResult]]]:
    kind = points[0].load.kind if points else "concurrency"
    x_label = {"concurrency": "concurrency", "rate": "offered rate (req/s)",
               "trace": "trace speed"}[kind]
    groups: dict[str, list[PointResult]] = defaultdict(list)
    for point in points:
        groups[point.target].append(point)
    return x_label, {t: sorted(ps, key=lambda p: p.load.value) for t, ps in groups.items()}


def _charts(result: BenchResult) -> list[tuple[str, list[str]]]:
    points = result.points
    multi = len(result.config.targets) > 1
    sections: list[tuple[str, list[str]]] = []
    sections.append(("Latency distributions", [
        line_chart("TTFT CDF", _cdf(points, "ttft", multi), "ms", "fraction of requests",
                   step=True, chart_id="ttft-cdf"),
        line_chart("End-to-end latency CDF", _cdf(points, "e2e", multi), "ms",
                   "fraction of requests", step=True, chart_id="e2e-cdf"),
    ]))
    x_label, groups = _by_load(points)
    latency: list[Series] = []
    speed: list[Series] = []
    requests: list[Series] = []
    for target, series in groups.items():
        prefix = f"{target} " if multi else ""
        for stat in ("p50", "p99"):
            latency.append((f"{prefix}TTFT {stat}", [
                (p.load.value, getattr(p.summary.ttft, stat) * 1000) for p in series
                if p.summary.ttft is not None]))
        latency.append((f"{prefix}e2e p50", [(p.load.value, p.summary.e2e.p50 * 1000)
                                             for p in series if p.summary.e2e is not None]))
        speed.append((f"{prefix}out tok/s", [(p.load.value, p.summary.output_token_throughput)
                                             for p in series]))
        requests.append((f"{prefix}req/s", [(p.load.value, p.summary.request_throughput)
                                            for p in series]))
        requests.append((f"{prefix}goodput/s", [(p.load.value, p.summary.goodput)
                                                for p in series if p.summary.goodput is not None]))
    sections.append(("Latency and throughput against load", [
        line_chart("Latency vs load", latency, x_label, "ms", chart_id="latency-vs-load"),
        line_chart("Output-token throughput vs load", speed, x_label, "tokens/s",
                   chart_id="throughput-vs-load"),
        line_chart("Requests and goodput vs load", requests, x_label, "requests/s",
                   chart_id="requests-vs-load"),
    ]))
    bins = [(_name(p, multi), _per_second(p)) for p in points]
    sections.append(("Per second, during each load point (first repeat)", [
        line_chart("Completed requests per second", [(n, b["throughput"]) for n, b in bins],
                   "seconds since the load point began", "requests/s", chart_id="ts-throughput"),
        line_chart("TTFT p50 per second", [(n, b["ttft"]) for n, b in bins],
                   "seconds since the load point began", "ms", chart_id="ts-ttft"),
        line_chart("Errors per second", [(n, b["errors"]) for n, b in bins],
                   "seconds since the load point began", "errors/s", chart_id="ts-errors"),
    ]))
    turns = [(_name(p, multi), [(float(t.turn), t.ttft.p50 * 1000) for t in p.summary.by_turn
                                if t.ttft is not None]) for p in points if p.summary.by_turn]
    if turns:
        sections.append(("Multi-turn sessions", [
            line_chart("TTFT p50 by turn", turns, "turn", "ms", chart_id="ttft-by-turn")]))
    server: dict[str, list[Series]] = defaultdict(list)
    for p in points:
        metrics = p.repeats[0].server_metrics
        if metrics is None:
            continue
        for metric in metrics.names:
            server[metric].append((_name(p, multi), metrics.series(metric)))
    if server:
        sections.append(("Server metrics", [
            line_chart(f"server: {metric}", series, "seconds since the load point began",
                       metric, chart_id=f"server-{metric}")
            for metric, series in server.items()]))
    return sections


def _table_html(table: Table) -> str:
    out = [f"<h3>{html.escape(table.title)}</h3><table><tr>"]
    out.extend(f"<th>{html.escape(h)}</th>" for h in table.headers)
    out.append("</tr>")
    for row in table.rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            classes = []
            if i >= table.numeric_from:
                classes.append("num")
            if cell == "INVALID":
                classes.append("invalid")
            attr = f' class="{" ".join(classes)}"' if classes else ""
            out.append(f"<td{attr}>{html.escape(cell)}</td>")
        out.append("</tr>")
    out.append("</table>")
    out.extend(f'<div class="note">note: {html.escape(n)}</div>' for n in table.notes)
    return "".join(out)


def render_html(result: BenchResult) -> str:
    """The report as one HTML document (no external resources)."""
    if result.interrupted:
        verdict = (f"INTERRUPTED by {result.interrupted}: only the {len(result.points)} load "
                   "point(s) that finished are reported", "bad")
    elif result.valid:
        verdict = ("Client health: every run valid (the client kept up with its schedule)",
                   "ok")
    else:
        bad = sum(1 for p in result.points if not p.valid)
        verdict = (f"INVALID: {bad} of {len(result.points)} runs had a saturated client; their "
                   "latencies include client-side delay", "bad")
    body = ["<h1>aiovertexchat bench</h1>"]
    body.extend(f'<div class="meta">{html.escape(line)}</div>' for line in header_lines(result))
    body.append(f'<div class="verdict {verdict[1]}">{html.escape(verdict[0])}</div>')
    for title, charts in _charts(result):
        body.append(f"<h2>{html.escape(title)}</h2><div class=\"grid\">{''.join(charts)}</div>")
    body.append("<h2>Tables</h2>")
    body.extend(_table_html(t) for t in build_tables(result))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>aiovertexchat bench report</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")


def write_html(result: BenchResult, path: str | Path) -> None:
    Path(path).write_text(render_html(result), encoding="utf-8")

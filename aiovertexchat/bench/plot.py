"""PNG plots (needs the `plot` extra: matplotlib): latency CDFs, TTFT and throughput vs load.

One figure, four panels: CDF of TTFT and of end-to-end latency (one curve per target and load),
TTFT p50/p99 against load, and output-token throughput against load (one line per target).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from ..errors import PlotUnavailableError
from .suite import BenchResult, PointResult

__all__ = ["PlotUnavailableError", "write_plot"]


def _cdf(axis: Any, points: list[PointResult], metric: str, title: str) -> None:
    multi = len({p.target for p in points}) > 1
    for point in points:
        values = sorted(
            v * 1000 for r in point.repeats for rec in r.records if rec.ok
            for v in [getattr(rec, metric)] if v is not None
        )
        if not values:
            continue
        fractions = [(i + 1) / len(values) for i in range(len(values))]
        label = f"{point.target} {point.load.label}" if multi else point.load.label
        axis.step(values, fractions, where="post", label=label)
    axis.set_title(title)
    axis.set_xlabel("ms")
    axis.set_ylabel("fraction of requests")
    axis.grid(True, alpha=0.3)
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize="small")


def write_plot(result: BenchResult, path: str | Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display needed
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailableError(
            "plots need matplotlib: pip install 'aiovertexchat[plot]'"
        ) from exc

    points = result.points
    kind = points[0].load.kind if points else "concurrency"
    x_label = "concurrency" if kind == "concurrency" else "offered rate (requests/s)"
    by_target: dict[str, list[PointResult]] = defaultdict(list)
    for point in points:
        by_target[point.target].append(point)

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    try:
        _cdf(axes[0][0], points, "ttft", "TTFT CDF")
        _cdf(axes[0][1], points, "e2e", "End-to-end latency CDF")
        ttft_axis, tput_axis = axes[1][0], axes[1][1]
        for target, series in by_target.items():
            series = sorted(series, key=lambda p: p.load.value)
            xs = [p.load.value for p in series]
            for stat, style in (("p50", "o-"), ("p99", "s--")):
                ys = [getattr(p.summary.ttft, stat) * 1000 if p.summary.ttft else float("nan")
                      for p in series]
                ttft_axis.plot(xs, ys, style, label=f"{target} {stat}")
            tput_axis.plot(xs, [p.summary.output_token_throughput for p in series], "o-",
                           label=target)
        ttft_axis.set_title("TTFT vs load")
        ttft_axis.set_xlabel(x_label)
        ttft_axis.set_ylabel("ms")
        tput_axis.set_title("Output-token throughput vs load")
        tput_axis.set_xlabel(x_label)
        tput_axis.set_ylabel("tokens/s")
        for axis in (ttft_axis, tput_axis):
            axis.grid(True, alpha=0.3)
            if axis.get_legend_handles_labels()[0]:
                axis.legend(fontsize="small")
        title = "aiovertexchat bench"
        if not result.valid:
            title += " — INVALID runs: client saturated (see report)"
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)

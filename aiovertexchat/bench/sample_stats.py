"""Descriptive statistics and confidence intervals, in plain Python (sans-IO, no numpy).

One percentile definition is used everywhere in the bench: linear interpolation between the two
closest ranks (Hyndman & Fan type 7, numpy's default). For sorted values x[0..n-1] and q in
[0, 100]: h = (n - 1) * q / 100, p = x[floor(h)] + (h - floor(h)) * (x[floor(h)+1] - x[floor(h)]).
It never invents a value outside [min, max], and p0/p100 are exactly min/max.

Confidence intervals across repeats are Student-t intervals for the mean of the per-repeat
values: mean ± t(1 - (1 - level) / 2, R - 1) * s / sqrt(R). The t quantile is computed exactly
for integer degrees of freedom (the closed-form CDF of Abramowitz & Stegun 26.7.3/26.7.4,
inverted by bisection), so no table or scipy is needed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "PERCENTILES",
    "Distribution",
    "Interval",
    "percentile",
    "t_interval",
    "t_quantile",
]

PERCENTILES = (50, 90, 95, 99)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Type-7 percentile of already sorted values; raises ValueError on an empty sequence."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q must be within [0, 100], got {q}")
    h = (n - 1) * q / 100.0
    lo = math.floor(h)
    if lo >= n - 1:
        return float(sorted_values[-1])
    low = sorted_values[lo]
    return float(low + (h - lo) * (sorted_values[lo + 1] - low))


@dataclass(frozen=True)
class Distribution:
    """Summary of one metric's values (seconds, unless the metric says otherwise)."""

    count: int
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    min: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Distribution | None:
        """None when there are no values (a metric that was never observed)."""
        ordered = sorted(values)
        if not ordered:
            return None
        p50, p90, p95, p99 = (percentile(ordered, q) for q in PERCENTILES)
        return cls(
            count=len(ordered),
            mean=math.fsum(ordered) / len(ordered),
            p50=p50,
            p90=p90,
            p95=p95,
            p99=p99,
            max=float(ordered[-1]),
            min=float(ordered[0]),
        )

    def get(self, stat: str) -> float:
        """A statistic by name: "mean", "p50", ..., "max", "min"."""
        value = getattr(self, stat)
        return float(value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _t_two_sided(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer df (A&S 26.7.3 odd df, 26.7.4 even df)."""
    theta = math.atan(t / math.sqrt(df))
    sin, cos2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2 == 1:
        total = 0.0
        if df > 1:
            term = math.cos(theta)
            total = term
            for k in range(3, df - 1, 2):
                term *= (k - 1) / k * cos2
                total += term
        return 2.0 / math.pi * (theta + sin * total)
    term = total = 1.0
    for k in range(2, df - 1, 2):
        term *= (k - 1) / k * cos2
        total += term
    return sin * total


def t_quantile(p: float, df: int) -> float:
    """The p-quantile (0.5 < p < 1) of Student's t with `df` >= 1 degrees of freedom."""
    if not 0.5 < p < 1.0:
        raise ValueError("t_quantile needs 0.5 < p < 1")
    if df < 1:
        raise ValueError("t_quantile needs df >= 1")
    if df > 1000:  # the series grows with df; the normal is within 1e-3 here
        return statistics.NormalDist().inv_cdf(p)
    level = 2.0 * p - 1.0  # two-sided probability mass inside [-t, t]
    lo, hi = 0.0, 1.0
    while _t_two_sided(hi, df) < level:
        hi *= 2.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if _t_two_sided(mid, df) < level:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


@dataclass(frozen=True)
class Interval:
    """A confidence interval for the mean of `n` per-repeat values."""

    mean: float
    low: float
    high: float
    n: int
    level: float

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def t_interval(values: Sequence[float], level: float = 0.95) -> Interval | None:
    """Student-t interval of the mean; None with fewer than two values."""
    n = len(values)
    if n < 2:
        return None
    if not 0.0 < level < 1.0:
        raise ValueError("confidence level must be within (0, 1)")
    mean = math.fsum(values) / n
    sd = statistics.stdev(values)
    half = t_quantile(1.0 - (1.0 - level) / 2.0, n - 1) * sd / math.sqrt(n)
    return Interval(mean=mean, low=mean - half, high=mean + half, n=n, level=level)

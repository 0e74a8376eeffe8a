"""Percentiles, summaries and confidence intervals of the bench (pure functions)."""

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiovertexchat.bench.sample_stats import Distribution, percentile, t_interval, t_quantile

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == pytest.approx(25.0)  # h = 1.5
    assert percentile(values, 90) == pytest.approx(37.0)  # h = 2.7
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile(values, 101)


@given(st.lists(finite, min_size=1, max_size=60), st.floats(min_value=0, max_value=100))
def test_percentile_matches_numpy_linear(values: list[float], q: float) -> None:
    numpy = pytest.importorskip("numpy")
    ordered = sorted(values)
    expected = float(numpy.percentile(ordered, q, method="linear"))
    assert percentile(ordered, q) == pytest.approx(expected, rel=1e-9, abs=1e-6)


@given(st.lists(finite, min_size=1, max_size=60))
def test_distribution_is_ordered_and_bounded(values: list[float]) -> None:
    dist = Distribution.of(values)
    assert dist is not None
    assert dist.count == len(values)
    assert dist.min <= dist.p50 <= dist.p90 <= dist.p95 <= dist.p99 <= dist.max
    assert dist.min <= dist.mean + 1e-6 and dist.mean <= dist.max + 1e-6
    assert dist.max == max(values)


def test_distribution_of_nothing_is_none() -> None:
    assert Distribution.of([]) is None


@pytest.mark.parametrize(
    ("df", "expected"),
    # Two-sided 95% critical values of Student's t, from standard tables.
    [(1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (5, 2.5706), (9, 2.2622),
     (10, 2.2281), (29, 2.0452), (30, 2.0423), (120, 1.9799)],
)
def test_t_quantile_matches_tables(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=1e-3)


def test_t_quantile_other_levels_and_limits() -> None:
    assert t_quantile(0.995, 4) == pytest.approx(4.6041, abs=1e-3)
    assert t_quantile(0.95, 7) == pytest.approx(1.8946, abs=1e-3)
    assert t_quantile(0.975, 5000) == pytest.approx(1.96, abs=1e-2)
    with pytest.raises(ValueError):
        t_quantile(0.4, 3)
    with pytest.raises(ValueError):
        t_quantile(0.975, 0)


def test_t_interval_of_known_sample() -> None:
    values = [10.0, 12.0, 14.0]
    interval = t_interval(values, 0.95)
    assert interval is not None
    half = 4.3027 * statistics.stdev(values) / math.sqrt(3)
    assert interval.mean == pytest.approx(12.0)
    assert interval.half_width == pytest.approx(half, rel=1e-3)
    assert interval.low == pytest.approx(12.0 - half, rel=1e-3)
    assert t_interval([1.0], 0.95) is None
    identical = t_interval([5.0, 5.0, 5.0])
    assert identical is not None and identical.half_width == 0.0

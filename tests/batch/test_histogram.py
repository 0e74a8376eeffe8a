"""The latency histogram against the exact percentiles of the bench's definition."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiovertexchat.batch.histogram import LatencyHistogram
from aiovertexchat.bench.sample_stats import percentile


def exact(values: list[float], q: float) -> float:
    return percentile(sorted(values), q)


latencies = st.lists(
    st.floats(min_value=0, max_value=3600, allow_nan=False), min_size=1, max_size=300
)


@given(values=latencies, q=st.sampled_from([0, 1, 50, 90, 99, 99.9, 100]))
def test_percentile_is_within_one_percent_above_exact(values: list[float], q: float) -> None:
    hist = LatencyHistogram()
    for v in values:
        hist.add(v)
    want = exact(values, q)
    got = hist.percentile(q)
    assert got is not None
    # Bucketing only raises values, by at most 1 % (or to the 1e-6 floor); the interpolation
    # between two ranks may round the last bit either way.
    assert want * (1 - 1e-12) <= got <= want * 1.01 + 1e-6
    assert hist.count == len(values)
    assert hist.min == min(values) and hist.max == max(values)


def test_empty_and_invalid() -> None:
    hist = LatencyHistogram()
    assert hist.percentile(50) is None and hist.mean is None
    with pytest.raises(ValueError):
        hist.add(-1)
    with pytest.raises(ValueError):
        hist.add(float("nan"))
    with pytest.raises(ValueError):
        hist.percentile(101)


def test_memory_depends_on_range_not_count() -> None:
    hist = LatencyHistogram()
    for i in range(100_000):
        hist.add(0.001 + (i % 1000) * 1e-5)
    # 1 ms .. 11 ms at 1 % per bucket: ln(11) / ln(1.01) ~ 241 buckets, for any count.
    assert len(hist._buckets) <= 242
    assert hist.mean == pytest.approx(sum(0.001 + (i % 1000) * 1e-5 for i in range(1000)) / 1000)

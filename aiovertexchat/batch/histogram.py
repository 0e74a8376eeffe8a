"""Latency percentiles in constant memory: a log-bucketed histogram. Sans-IO.

A batch of 10^7 items cannot keep 10^7 floats to sort at the end. Values are counted in buckets
whose bounds grow by a fixed ratio (1 % by default), so a percentile is exact to within that
relative error and memory depends only on the range of values (about 2,000 buckets span
1 µs to 1 hour), never on how many there are. The percentile definition is the bench's
(`aiovertexchat.bench.sample_stats.percentile`), applied to the bucketed values.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import overload

from ..bench.sample_stats import percentile

__all__ = ["LatencyHistogram"]


class LatencyHistogram:
    """Counts of non-negative values (seconds); percentiles within `relative_error`."""

    def __init__(self, relative_error: float = 0.01, smallest: float = 1e-6) -> None:
        if not 0 < relative_error < 1:
            raise ValueError("relative_error must be within (0, 1)")
        if smallest <= 0:
            raise ValueError("smallest must be > 0")
        self._log_ratio = math.log1p(relative_error)
        self._smallest = smallest
        self._buckets: Counter[int] = Counter()
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf

    def _index(self, value: float) -> int:
        # Bucket i holds (smallest * r**(i-1), smallest * r**i]; bucket 0 everything below.
        if value <= self._smallest:
            return 0
        index = max(1, math.ceil(math.log(value / self._smallest) / self._log_ratio))
        while self._upper(index) < value:  # rounding at a bucket edge
            index += 1
        return index

    def _upper(self, index: int) -> float:
        return self._smallest * math.exp(index * self._log_ratio)

    def add(self, value: float) -> None:
        if not value >= 0:  # also refuses NaN
            raise ValueError(f"latency must be >= 0, got {value!r}")
        self._buckets[self._index(value)] += 1
        self.count += 1
        self.total += value
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def percentile(self, q: float) -> float | None:
        """The bench's percentile (`q` in [0, 100]) of the counted values; None when empty.

        Each value stands as the upper bound of its bucket, clamped to the observed min and
        max, so the answer is never below the exact percentile and at most `relative_error`
        above it (plus `smallest`, for values below it).
        """
        if not 0 <= q <= 100:
            raise ValueError("q must be within [0, 100]")
        if not self.count:
            return None
        return percentile(_BucketedValues(self), q)

    def value_at(self, rank: int) -> float:
        """The bucketed value of the `rank`-th smallest value (0-based)."""
        if not 0 <= rank < self.count:
            raise IndexError(rank)
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen > rank:
                return min(max(self._upper(index), self.min), self.max)
        raise AssertionError("the bucket counts add up to `count`")  # pragma: no cover

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


class _BucketedValues(Sequence[float]):
    """The histogram's values in ascending order, as a sequence `percentile` can index."""

    def __init__(self, histogram: LatencyHistogram) -> None:
        self._histogram = histogram

    def __len__(self) -> int:
        return self._histogram.count

    @overload
    def __getitem__(self, index: int) -> float: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[float]: ...
    def __getitem__(self, index: int | slice) -> float | Sequence[float]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        return self._histogram.value_at(index)

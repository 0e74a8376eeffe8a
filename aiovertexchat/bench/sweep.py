"""Finding the highest request rate that still meets the SLO (sans-IO search logic).

A rate *passes* when the client stayed healthy and at least `attainment` (default 90%) of its
requests were good (errors count as not good). The search:
1. tries the given rates in ascending order and stops at the first failure;
2. if every given rate passed, doubles the highest one until a rate fails;
3. bisects between the highest pass and the lowest failure (0 when nothing passed);
steps 2 and 3 together probe at most `extra_steps` more rates, and stop early once the bracket
is narrower than `precision` (relative). The answer is the highest rate that passed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Probe", "RateSearch"]


@dataclass(frozen=True)
class Probe:
    rate: float
    passed: bool
    why: str = ""


@dataclass
class RateSearch:
    rates: Sequence[float]
    extra_steps: int = 4
    precision: float = 0.05
    probes: list[Probe] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.rates or any(not r > 0 for r in self.rates):
            raise ValueError("the rate search needs at least one rate > 0")
        self._initial = sorted(set(self.rates))
        self._extra_used = 0

    @property
    def best(self) -> float | None:
        """The highest rate that passed so far."""
        passed = [p.rate for p in self.probes if p.passed]
        return max(passed) if passed else None

    @property
    def lowest_failure(self) -> float | None:
        failed = [p.rate for p in self.probes if not p.passed]
        return min(failed) if failed else None

    def record(self, rate: float, passed: bool, why: str = "") -> None:
        self.probes.append(Probe(rate, passed, why))

    def next_rate(self) -> float | None:
        """The next rate to try, or None when the search is over."""
        tried = len(self.probes)
        failure = self.lowest_failure
        if tried < len(self._initial) and failure is None:
            return self._initial[tried]
        if self._extra_used >= self.extra_steps:
            return None
        best = self.best
        if failure is None:
            assert best is not None  # every probe passed
            rate = best * 2.0
        else:
            low = best if best is not None and best < failure else 0.0
            if failure - low <= self.precision * failure:
                return None
            rate = (low + failure) / 2.0
        self._extra_used += 1
        return rate

"""Open-loop arrival timelines, computed before a run starts (sans-IO, seeded).

The runner sends request i at `start + offsets[i]` whatever happened to earlier requests, so a
client that falls behind shows up as schedule lag instead of silently offering a lower rate.

Processes, all with mean gap 1/rate and the first request at offset 0:
- `constant`: gaps exactly 1/rate (coefficient of variation 0);
- `poisson`: exponential gaps (CV 1), the memoryless arrivals of many independent users;
- `gamma:K`: gamma gaps with shape K, scale 1/(rate·K), so CV = 1/sqrt(K): K < 1 is burstier
  than Poisson, K > 1 smoother, K = 1 is Poisson.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["ArrivalProcess", "arrival_offsets"]


@dataclass(frozen=True)
class ArrivalProcess:
    kind: str = "poisson"
    shape: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("constant", "poisson", "gamma"):
            raise ValueError(
                f"unknown arrival process {self.kind!r}; use constant, poisson or gamma:K"
            )
        if not self.shape > 0:
            raise ValueError(f"gamma shape must be > 0, got {self.shape}")

    @classmethod
    def parse(cls, text: str) -> ArrivalProcess:
        """`constant`, `poisson` or `gamma:K` (K > 0)."""
        kind, _, shape = text.strip().lower().partition(":")
        if kind == "gamma":
            if not shape:
                raise ValueError("gamma arrivals need a shape: gamma:K, e.g. gamma:0.5")
            try:
                value = float(shape)
            except ValueError:
                raise ValueError(f"gamma shape {shape!r} is not a number") from None
            return cls("gamma", value)
        if shape:
            raise ValueError(f"{kind} arrivals take no parameter (got {text!r})")
        return cls(kind)

    def __str__(self) -> str:
        return f"gamma:{self.shape:g}" if self.kind == "gamma" else self.kind

    def gap(self, rate: float, rng: random.Random) -> float:
        if self.kind == "constant":
            return 1.0 / rate
        if self.kind == "poisson":
            return rng.expovariate(rate)
        return rng.gammavariate(self.shape, 1.0 / (rate * self.shape))


def arrival_offsets(
    process: ArrivalProcess,
    rate: float,
    *,
    count: int | None = None,
    duration: float | None = None,
    seed: int = 0,
) -> list[float]:
    """Send offsets in seconds from the start: `count` of them, or all before `duration`
    (whichever bound comes first when both are given)."""
    if not rate > 0:
        raise ValueError(f"rate must be > 0 requests/s, got {rate}")
    if count is None and duration is None:
        raise ValueError("give a request count or a duration")
    rng = random.Random(seed)
    offsets: list[float] = []
    t = 0.0
    while (count is None or len(offsets) < count) and (duration is None or t < duration):
        offsets.append(t)
        # Constant offsets are computed, not summed, so no rounding drift adds a request.
        t = (len(offsets) / rate) if process.kind == "constant" else t + process.gap(rate, rng)
    return offsets

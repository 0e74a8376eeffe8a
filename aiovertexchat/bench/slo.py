"""Service-level objectives: per-request latency limits, and which requests meet all of them.

`--slo ttft=500ms,tpot=50ms,e2e=10s` sets upper limits on per-request metrics. A request is
*good* when it succeeded and met every limit. A metric that a successful request never produced
fails its limit (e.g. no content at all: no TTFT), except the two that are undefined by nature
for short answers: `tpot` (one output token or none: no decode phase) and `itl` (fewer than two
token chunks: no gap), which count as met.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..emulator.durations import parse_duration

__all__ = ["SLO", "SLO_METRICS", "parse_seconds"]

SLO_METRICS = {
    "ttft": "time to first content token",
    "ttfc": "time to first chunk",
    "tpot": "time per output token",
    "itl": "largest inter-chunk gap of the request",
    "e2e": "end-to-end latency",
}
# Undefined for short answers, so a missing value meets the limit (see module docstring).
_MET_WHEN_MISSING = frozenset({"tpot", "itl"})

# The durations of every command line (a unit is required); kept under its old name here.
parse_seconds = parse_duration


@dataclass(frozen=True)
class SLO:
    """Upper limits in seconds by metric name (keys from `SLO_METRICS`)."""

    limits: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, limit in self.limits.items():
            if name not in SLO_METRICS:
                raise ValueError(
                    f"unknown SLO metric {name!r}; use one of {', '.join(SLO_METRICS)}"
                )
            if not limit > 0:
                raise ValueError(f"SLO limit for {name} must be > 0, got {limit}")

    @classmethod
    def parse(cls, spec: str) -> SLO:
        """`ttft=500ms,tpot=50ms,e2e=10s` (an empty spec sets no limit)."""
        limits: dict[str, float] = {}
        for item in spec.split(","):
            if not item.strip():
                continue
            name, eq, value = item.partition("=")
            name = name.strip().lower()
            if not eq:
                raise ValueError(f"SLO item {item.strip()!r} must be metric=duration")
            if name in limits:
                raise ValueError(f"SLO metric {name!r} given twice")
            limits[name] = parse_seconds(value)
        return cls(limits)

    def __bool__(self) -> bool:
        return bool(self.limits)

    def violations(self, values: Mapping[str, float | None]) -> list[str]:
        """Names of the limits a successful request broke, given its metric values."""
        broken = []
        for name, limit in self.limits.items():
            value = values.get(name)
            if value is None:
                if name not in _MET_WHEN_MISSING:
                    broken.append(name)
            elif value > limit:
                broken.append(name)
        return broken

    def describe(self) -> str:
        return ", ".join(f"{k} ≤ {v * 1000:g} ms" for k, v in self.limits.items()) or "none"

    def to_dict(self) -> dict[str, float]:
        return dict(self.limits)

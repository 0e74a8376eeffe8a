"""Client-health panel: did the benchmark client keep up, or did it distort what it measured?

Sans-IO: the runner hands over what it observed (records, event-loop lag samples, CPU time,
peak in-flight requests, pool size); `assess` turns that into checks against thresholds.

A run is flagged invalid — its latencies are then partly the client's, not the server's — when
any check fails (defaults in `HealthThresholds`, documented in the README):
- schedule lag p99 (call time - due time) above 10 ms: requests left late, so an open-loop rate
  was not really offered, and a closed loop re-issued slowly;
- event-loop lag p99 above 10 ms: chunk timestamps were taken late by that much;
- achieved rate (open loop: sends per second vs the timeline's own rate) or achieved concurrency
  (closed loop: time-averaged requests in flight until the last send vs the target) below 90%;
- client CPU above 90% of one core: one event loop cannot use more, so it was saturated;
- more requests in flight than connections in the client's pool: the rest queued for a
  connection inside the client, and that queueing would have been counted as server time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .metrics import RequestRecord, mean_in_flight
from .sample_stats import Distribution

__all__ = ["Check", "ClientHealth", "HealthThresholds", "assess"]

LoadKind = Literal["concurrency", "rate", "trace"]


@dataclass(frozen=True)
class HealthThresholds:
    schedule_lag_p99_s: float = 0.010
    loop_lag_p99_s: float = 0.010
    min_achieved_fraction: float = 0.90
    max_cpu_fraction: float = 0.90


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    limit: float
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in self.__dataclass_fields__}


@dataclass(frozen=True)
class ClientHealth:
    load_kind: LoadKind
    target_load: float
    """The configured concurrency, or the nominal rate (requests per second)."""
    scheduled_load: float | None
    """Open loop: the rate of the precomputed timeline itself; closed loop: the effective target
    concurrency (the target, or fewer when fewer requests were sent)."""
    achieved_load: float | None
    schedule_lag: Distribution | None
    loop_lag: Distribution | None
    gate_wait: Distribution | None
    cpu_fraction: float | None
    peak_in_flight: int
    pool_size: int | None
    checks: list[Check] = field(default_factory=list)
    workers: list[ClientHealth] = field(default_factory=list)
    """With worker processes: each one's own health (this one is then the combined view)."""

    @property
    def valid(self) -> bool:
        return all(check.ok for check in self.checks) and all(w.valid for w in self.workers)

    @property
    def reasons(self) -> list[str]:
        own = [check.detail for check in self.checks if not check.ok]
        return own + [f"worker {number}: {reason}"
                      for number, worker in enumerate(self.workers)
                      for reason in worker.reasons]

    @property
    def saturated(self) -> bool:
        """The event loop itself was the bottleneck (CPU or loop-lag check failed): more
        worker processes would help."""
        return any(not c.ok and c.name in ("client_cpu", "loop_lag_p99") for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, Distribution):
                value = value.to_dict()
            elif name == "checks":
                value = [c.to_dict() for c in value]
            elif name == "workers":
                value = [w.to_dict() for w in value]
            out[name] = value
        out["valid"] = self.valid
        out["reasons"] = self.reasons
        return out


def _achieved(
    records: Sequence[RequestRecord], kind: LoadKind, target: float, window_start: float
) -> tuple[float | None, float | None]:
    """(scheduled, achieved) load; see `ClientHealth` for what each means. For a closed loop
    with a ramp-up, `window_start` is the end of the ramp."""
    called = [r for r in records if r.call_at is not None]
    if kind != "concurrency":
        if len(called) < 2:
            return None, None
        due = sorted(r.scheduled_at for r in called)
        sent = sorted(r.call_at for r in called if r.call_at is not None)
        span_due, span_sent = due[-1] - due[0], sent[-1] - sent[0]
        scheduled = (len(due) - 1) / span_due if span_due > 0 else None
        achieved = (len(sent) - 1) / span_sent if span_sent > 0 else None
        return scheduled, achieved
    if not called:
        return None, None
    last_call = max(r.call_at for r in called if r.call_at is not None)
    intervals = [
        (r.call_at, r.end_at if r.end_at is not None else last_call)
        for r in called
        if r.call_at is not None
    ]
    if any(r.session is not None for r in called):
        # Sessions: a slot is busy from its conversation's first call to its last end, think
        # time included (a user reading the answer still holds the slot).
        spans: dict[int, tuple[float, float]] = {}
        for r, (a, b) in zip(called, intervals, strict=True):
            key = r.session if r.session is not None else -1 - r.index
            low, high = spans.get(key, (a, b))
            spans[key] = (min(low, a), max(high, b))
        intervals = list(spans.values())
        called = [r for r in called if r.turn == 1]
    effective = float(min(target, len(called)))
    if len(called) <= target or last_call <= window_start:
        # Every request went out in the first wave: no worker ever re-issued, so there is no
        # steady state to average over (one request: a zero-length window, "concurrency 0").
        # What the client achieved is how many were in flight together when the last left.
        return effective, mean_in_flight(intervals, last_call, last_call)
    return effective, mean_in_flight(intervals, window_start, last_call)


def assess(
    records: Sequence[RequestRecord],
    *,
    load_kind: LoadKind,
    target_load: float,
    window_start: float,
    loop_lags: Sequence[float],
    cpu_fraction: float | None,
    peak_in_flight: int,
    pool_size: int | None,
    thresholds: HealthThresholds | None = None,
    ramp_up: float = 0.0,
) -> ClientHealth:
    """Judge one run (or one worker's share of it). `ramp_up`: a closed loop's concurrency
    is averaged from the end of its ramp."""
    th = thresholds or HealthThresholds()
    schedule_lag = Distribution.of(r.schedule_lag for r in records if r.schedule_lag is not None)
    loop_lag = Distribution.of(loop_lags)
    gate_wait = Distribution.of(r.gate_wait for r in records if r.gate_wait is not None)
    scheduled, achieved = _achieved(records, load_kind, target_load, window_start + ramp_up)
    checks: list[Check] = []

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.1f} ms"

    if schedule_lag is not None:
        lag = schedule_lag.p99
        checks.append(Check(
            "schedule_lag_p99", lag, th.schedule_lag_p99_s, lag <= th.schedule_lag_p99_s,
            f"schedule lag p99 {ms(lag)} > {ms(th.schedule_lag_p99_s)}: requests left late",
        ))
    if loop_lag is not None:
        lag = loop_lag.p99
        checks.append(Check(
            "loop_lag_p99", lag, th.loop_lag_p99_s, lag <= th.loop_lag_p99_s,
            f"event-loop lag p99 {ms(lag)} > {ms(th.loop_lag_p99_s)}: timestamps taken late",
        ))
    if scheduled and achieved is not None:
        fraction = achieved / scheduled
        what = "concurrency" if load_kind == "concurrency" else "rate"
        checks.append(Check(
            f"achieved_{what}", fraction, th.min_achieved_fraction,
            fraction >= th.min_achieved_fraction,
            f"achieved {what} {achieved:.3g} is {fraction:.0%} of the {scheduled:.3g} scheduled "
            f"(< {th.min_achieved_fraction:.0%})",
        ))
    if cpu_fraction is not None:
        checks.append(Check(
            "client_cpu", cpu_fraction, th.max_cpu_fraction, cpu_fraction <= th.max_cpu_fraction,
            f"client CPU {cpu_fraction:.0%} of one core > {th.max_cpu_fraction:.0%}: "
            "the event loop was saturated",
        ))
    if pool_size:
        checks.append(Check(
            "connection_pool", float(peak_in_flight), float(pool_size),
            peak_in_flight <= pool_size,
            f"{peak_in_flight} requests in flight > {pool_size} pooled connections: some "
            "waited for a connection inside the client",
        ))
    return ClientHealth(
        load_kind=load_kind,
        target_load=target_load,
        scheduled_load=scheduled,
        achieved_load=achieved,
        schedule_lag=schedule_lag,
        loop_lag=loop_lag,
        gate_wait=gate_wait,
        cpu_fraction=cpu_fraction,
        peak_in_flight=peak_in_flight,
        pool_size=pool_size,
        checks=checks,
    )

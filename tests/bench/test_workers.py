"""Worker processes: the split of a load, the exact merge of what the workers measured, and
runs with real spawned workers against an emulator in this process."""

from __future__ import annotations

import itertools
import math
import statistics
import time
from typing import Any

import pytest

from aiovertexchat.bench import ArrivalProcess, BenchConfig, Load, Target, Workload, run_bench
from aiovertexchat.bench.arrivals import arrival_offsets
from aiovertexchat.bench.metrics import RequestRecord, summarize
from aiovertexchat.bench.partition import Share, split_concurrency
from aiovertexchat.bench.runner import PhaseResult
from aiovertexchat.bench.sample_stats import percentile
from aiovertexchat.bench.slo import SLO
from aiovertexchat.bench.suite import BenchConfig as Config
from aiovertexchat.bench.workers import ClockMismatchError, WorkerPool, merge_phases
from aiovertexchat.bench.workload import LengthSpec
from aiovertexchat.emulator import Emulator, EmulatorConfig
from tests.bench.test_run import LENIENT


# -- the split ------------------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [2, 3, 4])
def test_partitioned_arrivals_are_exactly_the_planned_timeline(workers: int) -> None:
    rate, count = 200.0, 4001
    timeline = arrival_offsets(ArrivalProcess("poisson"), rate, count=count, seed=11)
    shares = [Share(w, workers) for w in range(workers)]
    owned = [[timeline[i] for i in s.indices(count)] for s in shares]
    # Together: every planned arrival once, none added.
    assert sorted(t for part in owned for t in part) == timeline
    assert sum(len(part) for part in owned) == count
    # Each worker: an equal share (±1) and the rate R/W over the same span.
    assert max(map(len, owned)) - min(map(len, owned)) <= 1
    span = timeline[-1] - timeline[0]
    for part in owned:
        assert len(part) / span == pytest.approx(rate / workers, rel=0.01)
        # Round-robin thins a Poisson stream into Erlang-W gaps: mean W/R, CV 1/sqrt(W).
        gaps = [b - a for a, b in itertools.pairwise(part)]
        assert statistics.fmean(gaps) == pytest.approx(workers / rate, rel=0.06)
        cv = statistics.stdev(gaps) / statistics.fmean(gaps)
        assert cv == pytest.approx(1 / math.sqrt(workers), rel=0.1)


def test_closed_loop_split_adds_up_to_the_concurrency() -> None:
    assert split_concurrency(512, 2) == [256, 256]
    assert split_concurrency(7, 3) == [3, 2, 2]
    for c in range(1, 40):
        for w in range(1, 6):
            parts = split_concurrency(c, w)
            assert sum(parts) == c and max(parts) - min(parts) <= 1
    assert Share(1, 3).slots(8) == [1, 4, 7]
    with pytest.raises(ValueError, match="does not exist"):
        Share(3, 3)


# -- the merge ------------------------------------------------------------------------------------
def _phase(ttfts: list[float], first_index: int, step: int, lags: list[float],
           cpu: float) -> PhaseResult:
    records = []
    for k, ttft in enumerate(ttfts):
        call = 0.001 * k
        records.append(RequestRecord(first_index + step * k, scheduled_at=call, call_at=call,
                                     started_at=call, headers_at=call + ttft,
                                     first_chunk_at=call + ttft, first_content_at=call + ttft,
                                     end_at=call + ttft + 0.01, token_times=[call + ttft]))
    return PhaseResult(records, 0.0, 1.0, lags, cpu, len(ttfts))


def test_merged_percentiles_are_exact_not_averaged() -> None:
    fast = [0.100 + 0.001 * i for i in range(100)]       # worker 0: 100..199 ms
    slow = [0.300 + 0.010 * i for i in range(50)]        # worker 1: 300..790 ms
    a = _phase(fast, 0, 2, [0.001] * 10, 0.4)
    b = _phase(slow, 1, 2, [0.002] * 10, 0.7)
    merged = merge_phases([a, b])
    assert [r.index for r in merged.records] == sorted(r.index for r in merged.records)
    assert len(merged.records) == 150 and merged.loop_lags == a.loop_lags + b.loop_lags
    assert merged.cpu_fraction == 0.7 and merged.peak_in_flight == 150
    summary = summarize(merged.records, window_start=0.0, slo=SLO(), model="m", prices=None)
    everything = sorted(fast + slow)
    assert summary.ttft is not None
    for q, got in ((50, summary.ttft.p50), (90, summary.ttft.p90), (99, summary.ttft.p99)):
        assert got == pytest.approx(percentile(everything, q), abs=1e-12)
    # What averaging the workers' own percentiles would have said instead: not this.
    averaged = (percentile(fast, 99) + percentile(slow, 99)) / 2
    assert abs(summary.ttft.p99 - averaged) > 0.1


def test_a_worker_whose_clock_is_not_ours_is_refused() -> None:
    async def start() -> None:
        readings = iter([1e9, 1e9 + 1.0])  # the parent's "clock", nowhere near the workers'
        pool = WorkerPool(1, [], Workload(), clock=lambda: next(readings))
        async with pool.started():
            pass

    import asyncio

    with pytest.raises(ClockMismatchError, match="one monotonic clock"):
        asyncio.run(start())


def test_perf_counter_is_one_clock_for_every_process() -> None:
    # What the bench relies on, stated where it holds: CLOCK_MONOTONIC on Linux.
    info = time.get_clock_info("perf_counter")
    if not info.implementation.startswith("clock_gettime(CLOCK_MONOTONIC"):
        pytest.skip(f"perf_counter is {info.implementation} here")
    assert info.monotonic and not info.adjustable


# -- real worker processes ------------------------------------------------------------------------
def _config(emu: Emulator, **overrides: Any) -> Config:
    settings: dict[str, Any] = {
        "targets": [Target("emu", emu.base_url, api_key="test")],
        "workload": Workload(prompt_tokens=LengthSpec(6), max_tokens=4, seed=3),
        "thresholds": LENIENT,
        "workers": 2,
    }
    settings.update(overrides)
    return BenchConfig(**settings)


async def test_two_workers_send_the_planned_open_loop_and_merge_it() -> None:
    async with Emulator(EmulatorConfig(ttft=0.005, itl=0.001)) as emu:
        load = Load.rate(100.0, ArrivalProcess("poisson"))
        result = await run_bench(_config(emu, loads=[load], requests=40, seed=5))
    (point,) = result.points
    repeat = point.repeats[0]
    assert repeat.workers == 2 and emu.stats.requests == 40
    assert [r.index for r in repeat.records] == list(range(40))
    planned = arrival_offsets(ArrivalProcess("poisson"), 100.0, count=40, seed=6)  # seed+1
    due = [r.scheduled_at - repeat.window_start for r in repeat.records]
    assert due == pytest.approx(planned, abs=1e-9)
    assert all(r.ok and r.call_at is not None and r.call_at >= r.scheduled_at - 0.001
               for r in repeat.records)
    # Health per worker and combined; the combined view judges all 40 requests.
    health = repeat.health
    assert len(health.workers) == 2
    assert health.schedule_lag is not None and health.schedule_lag.count == 40
    assert sorted(w.schedule_lag.count for w in health.workers if w.schedule_lag) == [20, 20]
    assert point.to_dict()["repeats"][0]["workers"] == 2
    assert len(point.to_dict()["repeats"][0]["client_health"]["workers"]) == 2


async def test_two_workers_split_a_closed_loop_and_its_requests() -> None:
    async with Emulator(EmulatorConfig(ttft=0.01, itl=0.001)) as emu:
        result = await run_bench(_config(emu, loads=[Load.concurrency(5)], requests=30,
                                         warmup=4, ramp_up=0.05))
    repeat = result.points[0].repeats[0]
    assert emu.stats.requests == 34  # warm-up split too, and never counted
    assert [r.index for r in repeat.records] == list(range(30))
    peaks = sorted(w.peak_in_flight for w in repeat.health.workers)
    assert peaks == [2, 3]  # slots 0,2,4 and 1,3
    # Ramp-up: slot s started s/5 of 50 ms late, whichever worker ran it (each slot's first
    # request is due exactly then; its later ones when the previous one ended).
    due = [r.scheduled_at - repeat.window_start for r in repeat.records]
    for slot in range(5):
        assert sum(1 for d in due if abs(d - 0.01 * slot) < 1e-9) == 1, (slot, sorted(due))
    assert min(due) == 0.0


def test_workers_auto_follows_the_load_and_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiovertexchat.bench import suite

    monkeypatch.setattr(suite, "usable_cores", lambda: 4)
    config = Config(targets=[Target("t", "http://127.0.0.1:1/v1")], workers="auto")
    assert [config.workers_for(Load.concurrency(c)) for c in (1, 128, 129, 512, 5000)] == [
        1, 1, 2, 4, 4]
    assert [config.workers_for(Load.rate(r)) for r in (10, 100, 250)] == [1, 1, 3]
    with pytest.raises(ValueError, match="workers"):
        Config(targets=[Target("t", "http://127.0.0.1:1/v1")], workers=0)


@pytest.mark.parametrize(("cpu", "loop_lag", "suggested"), [(0.99, 0.001, True),
                                                            (0.2, 0.05, True),
                                                            (0.2, 0.001, False)])
def test_a_saturated_single_loop_run_suggests_workers(cpu: float, loop_lag: float,
                                                      suggested: bool) -> None:
    import io

    from aiovertexchat.bench.health import assess
    from aiovertexchat.bench.report import render
    from aiovertexchat.bench.suite import BenchResult, PointResult, RepeatResult

    records = _phase([0.1] * 20, 0, 1, [], cpu).records
    health = assess(records, load_kind="concurrency", target_load=1, window_start=0.0,
                    loop_lags=[loop_lag] * 10, cpu_fraction=cpu, peak_in_flight=1,
                    pool_size=None)
    summary = summarize(records, window_start=0.0, slo=SLO(), model="m", prices=None)
    point = PointResult("t", "m", Load.concurrency(1), [RepeatResult(1, summary, health,
                                                                     records, 0.0)],
                        summary, {}, 0.9)
    out = io.StringIO()
    config = Config(targets=[Target("t", "http://127.0.0.1:1/v1")])
    render(BenchResult(config, [point], [], 0.0), out, use_rich=False)
    assert ("run with --workers" in out.getvalue()) == suggested

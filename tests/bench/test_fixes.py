"""Two verdicts that were wrong: one request is not "achieved concurrency 0", and a rate search
that never failed reports a lower bound ("≥ X"), not the maximum."""

import io

from aiovertexchat.bench import Load, run_bench
from aiovertexchat.bench.health import assess
from aiovertexchat.bench.metrics import RequestRecord
from aiovertexchat.bench.report import render
from aiovertexchat.bench.suite import BenchConfig, BenchResult, MaxRateResult, Target
from aiovertexchat.bench.sweep import Probe
from aiovertexchat.emulator import Emulator, EmulatorConfig


def _record(index: int, call: float, end: float) -> RequestRecord:
    return RequestRecord(index, scheduled_at=0.0, call_at=call, started_at=call,
                         end_at=end)


def test_one_request_achieves_its_concurrency() -> None:
    health = assess([_record(0, 0.0001, 0.2)], load_kind="concurrency", target_load=1,
                    window_start=0.0, loop_lags=[], cpu_fraction=None, peak_in_flight=1,
                    pool_size=None)
    assert (health.scheduled_load, health.achieved_load) == (1.0, 1.0)
    assert health.valid


def test_a_first_wave_counts_what_was_in_flight_together() -> None:
    # 3 requests at c=8, sent 1 ms apart: all three overlap when the last leaves.
    together = [_record(i, i * 0.001, 0.5) for i in range(3)]
    health = assess(together, load_kind="concurrency", target_load=8, window_start=0.0,
                    loop_lags=[], cpu_fraction=None, peak_in_flight=3, pool_size=None)
    assert (health.scheduled_load, health.achieved_load) == (3.0, 3.0)
    # The first ended before the last was sent: only two were ever in flight together.
    late = [_record(0, 0.0, 0.002), _record(1, 0.001, 0.5), _record(2, 0.003, 0.5)]
    health = assess(late, load_kind="concurrency", target_load=8, window_start=0.0,
                    loop_lags=[], cpu_fraction=None, peak_in_flight=2, pool_size=None)
    assert health.achieved_load == 2.0 and not health.valid


async def test_requests_1_is_valid_end_to_end() -> None:
    async with Emulator(EmulatorConfig(ttft=0.01, itl=0.001)) as emu:
        result = await run_bench(BenchConfig(
            targets=[Target("emu", emu.base_url, api_key="k")], loads=[Load.concurrency(1)],
            requests=1,
        ))
    (point,) = result.points
    health = point.repeats[0].health
    assert health.achieved_load == 1.0
    assert "achieved_concurrency" not in {c.name for c in health.checks if not c.ok}


def test_a_search_that_never_failed_reports_a_lower_bound() -> None:
    config = BenchConfig(targets=[Target("t", "http://127.0.0.1:1/v1")])
    never_failed = MaxRateResult("t", 8.0, [Probe(2.0, True), Probe(4.0, True),
                                            Probe(8.0, True)], False)
    bracketed = MaxRateResult("t", 4.0, [Probe(4.0, True), Probe(8.0, False)], False)
    assert never_failed.lower_bound and not bracketed.lower_bound
    assert never_failed.to_dict()["max_rate_is_lower_bound"] is True
    assert bracketed.to_dict()["max_rate_is_lower_bound"] is False
    for found, shown in ((never_failed, "≥ 8 req/s"), (bracketed, "4 req/s")):
        out = io.StringIO()
        render(BenchResult(config, [], [found], 0.0), out, use_rich=False)
        line = next(x for x in out.getvalue().splitlines() if x.startswith("t "))
        assert shown in line
        assert ("≥" in line) == found.lower_bound

"""Metric math on synthetic request timelines (sans-IO: every timestamp is given)."""

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiovertexchat._protocol.pricing import PriceTable
from aiovertexchat.bench.health import HealthThresholds, assess
from aiovertexchat.bench.metrics import RequestRecord, mean_in_flight, summarize
from aiovertexchat.bench.slo import SLO, parse_seconds
from aiovertexchat.bench.sweep import RateSearch
from aiovertexchat.types import Usage
from tests.helpers import MODEL


def usage(completion: int, prompt: int = 100, **extra: object) -> Usage:
    fields = {"prompt_tokens": prompt, "completion_tokens": completion,
              "total_tokens": prompt + completion, **extra}
    return msgspec.convert(fields, Usage)


def timeline(
    index: int = 0,
    *,
    scheduled: float = 0.0,
    call: float = 0.0,
    ttft: float = 0.1,
    itl: float = 0.01,
    tokens: int = 11,
    tail: float = 0.0,
    reasoning_first: float | None = None,
) -> RequestRecord:
    """A streamed request: headers and first content at call+ttft, one token per chunk every
    `itl`, stream end `tail` after the last chunk."""
    first = call + ttft
    times = [first + k * itl for k in range(tokens)]
    end = (times[-1] if times else first) + tail
    return RequestRecord(
        index,
        scheduled_at=scheduled,
        call_at=call,
        started_at=call + 0.0001,
        headers_at=first - 0.001,
        first_chunk_at=first - 0.0005,
        first_content_at=first if tokens else None,
        first_reasoning_at=reasoning_first,
        end_at=end,
        token_times=times,
        usage=usage(tokens),
        client_tokens=tokens,
    )


def failed(index: int, call: float, at: float, error: str = "RateLimitError") -> RequestRecord:
    return RequestRecord(index, scheduled_at=call, call_at=call, end_at=at, error=error,
                         status_code=429)


def test_per_request_metrics_from_a_timeline() -> None:
    r = timeline(scheduled=1.0, call=1.004, ttft=0.2, itl=0.02, tokens=11, tail=0.005)
    assert r.schedule_lag == pytest.approx(0.004)
    assert r.gate_wait == pytest.approx(0.0001)
    assert r.ttft == pytest.approx(0.2)
    assert r.ttfc == pytest.approx(0.1995)
    assert r.ttfh == pytest.approx(0.199)
    assert r.ttfr is None
    assert r.e2e == pytest.approx(0.2 + 10 * 0.02 + 0.005)
    # (e2e - ttft) / (tokens - 1)
    assert r.tpot == pytest.approx((10 * 0.02 + 0.005) / 10)
    assert r.itl_gaps == pytest.approx([0.02] * 10)
    assert r.output_tokens == 11


def test_tpot_is_undefined_below_two_tokens() -> None:
    assert timeline(tokens=1).tpot is None
    assert timeline(tokens=0).tpot is None
    assert timeline(tokens=2, itl=0.05).tpot == pytest.approx(0.05)


def test_tpot_starts_at_streamed_reasoning_and_skips_hidden_reasoning() -> None:
    # Reasoning streamed first: decode starts at the first reasoning chunk and covers all
    # 20 billed output tokens (10 completion + 10 reasoning reported apart).
    streamed = timeline(call=0.0, ttft=0.5, itl=0.01, tokens=10, reasoning_first=0.1)
    streamed.usage = usage(10, completion_tokens_details={"reasoning_tokens": 10})
    streamed.usage = msgspec.structs.replace(streamed.usage, total_tokens=120)
    assert streamed.output_tokens == 20
    assert streamed.tpot == pytest.approx((streamed.end_at - 0.1) / 19)
    # Hidden thinking: billed, but generated before the first visible token.
    hidden = timeline(call=0.0, ttft=0.5, itl=0.01, tokens=10)
    hidden.usage = msgspec.convert(
        {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 120,
         "completion_tokens_details": {"reasoning_tokens": 10}}, Usage)
    assert hidden.output_tokens == 20
    assert hidden.decode_tokens == 10
    assert hidden.tpot == pytest.approx(0.09 / 9)


def test_summary_counts_throughput_goodput_and_errors() -> None:
    slo = SLO.parse("ttft=150ms,e2e=1s")
    records = [
        timeline(0, call=0.0, ttft=0.1, tokens=11, itl=0.01),   # good
        timeline(1, call=0.0, ttft=0.2, tokens=11, itl=0.01),   # ttft miss
        timeline(2, call=0.5, ttft=0.1, tokens=21, itl=0.05),   # e2e 1.1 s: miss; ends at 1.6
        failed(3, 0.2, 0.21),
        failed(4, 0.3, 0.31, "InternalServerError"),
    ]
    s = summarize(records, window_start=0.0, slo=slo, model=MODEL, prices=PriceTable.default())
    assert s.requests == 5 and s.ok == 3
    assert s.errors == {"InternalServerError": 1, "RateLimitError": 1}
    assert s.error_rate == pytest.approx(0.4)
    assert s.duration_s == pytest.approx(1.6)
    assert s.request_throughput == pytest.approx(3 / 1.6)
    assert s.output_tokens == 43
    assert s.output_token_throughput == pytest.approx(43 / 1.6)
    assert s.total_token_throughput == pytest.approx((43 + 300) / 1.6)
    assert s.good == 1
    assert s.good_fraction == pytest.approx(1 / 5)  # errors are in the denominator
    assert s.goodput == pytest.approx(1 / 1.6)
    assert s.slo_violations == {"e2e": 1, "ttft": 1}
    assert s.ttft is not None and s.ttft.count == 3 and s.ttft.max == pytest.approx(0.2)
    assert s.itl is not None and s.itl.count == 10 + 10 + 20
    assert s.tokens_per_chunk == pytest.approx(1.0)
    assert s.token_discrepancy == pytest.approx(0.0)
    # Cost from usage and the default price table (flash: $0.30 in, $2.50 out per 1M).
    assert s.cost is not None
    total = (300 * 0.30 + 43 * 2.50) / 1e6
    assert s.cost.total_usd == pytest.approx(total)
    assert s.cost.per_request_usd == pytest.approx(total / 3)
    assert s.cost.per_million_output_usd == pytest.approx(total / 43 * 1e6)
    assert s.cost.per_good_request_usd == pytest.approx(total)


def test_summary_without_slo_or_price_and_with_missing_usage() -> None:
    r = timeline(tokens=5)
    r.usage = None
    r.client_tokens = 5
    s = summarize([r, timeline(1, tokens=8)], window_start=0.0, slo=SLO(), model="my/model",
                  prices=PriceTable.default())
    assert s.good is None and s.goodput is None and s.good_fraction is None
    assert s.cost is None and "no price for model" in (s.cost_note or "")
    assert s.usage_missing == 1
    assert s.output_tokens == 13  # the client-side count stands in for the missing usage


def test_client_token_discrepancy_and_multi_token_chunks() -> None:
    # 5 chunks carrying 20 tokens (usage says 20, the client counted 5 chunks).
    r = timeline(tokens=5)
    r.usage = usage(20)
    s = summarize([r], window_start=0.0, slo=SLO(), model=MODEL, prices=None)
    assert s.tokens_per_chunk == pytest.approx(4.0)
    assert s.token_discrepancy == pytest.approx((5 - 20) / 20)
    assert s.cost is None and s.cost_note == "no price table"


def test_slo_missing_metrics_and_parsing() -> None:
    slo = SLO.parse("ttft=500ms, tpot=50ms,itl=200ms,e2e=10s")
    assert slo.limits == {"ttft": 0.5, "tpot": 0.05, "itl": 0.2, "e2e": 10.0}
    # TPOT and ITL are undefined for one-token answers and count as met; TTFT does not.
    assert slo.violations({"ttft": 0.1, "tpot": None, "itl": None, "e2e": 1.0}) == []
    assert slo.violations({"ttft": None, "tpot": None, "e2e": 1.0}) == ["ttft"]
    assert parse_seconds("90us") == pytest.approx(9e-5)
    assert parse_seconds("1m") == 60.0
    for bad in ("ttft", "speed=1s", "ttft=fast", "ttft=1s,ttft=2s", "e2e=0"):
        with pytest.raises(ValueError):
            SLO.parse(bad)


def test_mean_in_flight_is_littles_law_on_the_window() -> None:
    intervals = [(0.0, 1.0), (0.0, 0.5), (0.5, 2.0)]
    assert mean_in_flight(intervals, 0.0, 1.0) == pytest.approx(2.0)
    assert mean_in_flight(intervals, 0.0, 2.0) == pytest.approx(1.5)
    assert mean_in_flight(intervals, 0.5, 0.5) == 3.0  # zero-length window: an instant


@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 10)), max_size=20))
def test_mean_in_flight_is_bounded_by_count(pairs: list[tuple[float, float]]) -> None:
    intervals = [(min(a, b), max(a, b)) for a, b in pairs]
    value = mean_in_flight(intervals, 0.0, 10.0)
    assert 0.0 <= value <= len(intervals) + 1e-9


def _assess(records: list[RequestRecord], **overrides: object) -> object:
    args: dict[str, object] = {
        "load_kind": "concurrency", "target_load": 2.0, "window_start": 0.0,
        "loop_lags": [0.001] * 100, "cpu_fraction": 0.2, "peak_in_flight": 2, "pool_size": 10,
    }
    args.update(overrides)
    return assess(records, **args)  # type: ignore[arg-type]


def _closed_loop(workers: int, per_worker: int, gap: float) -> list[RequestRecord]:
    """Each worker re-issues `gap` seconds after its previous request ends (1 s each)."""
    records = []
    for w in range(workers):
        t = 0.0
        for k in range(per_worker):
            records.append(timeline(w * 100 + k, scheduled=t, call=t + gap, ttft=0.5,
                                    itl=0.05, tokens=11))
            t = records[-1].end_at or 0.0
    return records


def test_healthy_closed_loop_is_valid() -> None:
    health = _assess(_closed_loop(2, 5, 0.0001))
    assert health.valid, health.reasons  # type: ignore[attr-defined]
    assert health.achieved_load == pytest.approx(2.0, rel=0.01)  # type: ignore[attr-defined]


def test_slow_reissue_lowers_achieved_concurrency_and_flags_lag() -> None:
    health = _assess(_closed_loop(2, 5, 0.3))
    names = {c.name for c in health.checks if not c.ok}  # type: ignore[attr-defined]
    assert names == {"schedule_lag_p99", "achieved_concurrency"}
    assert not health.valid  # type: ignore[attr-defined]


def test_loop_lag_cpu_and_pool_checks() -> None:
    records = _closed_loop(2, 3, 0.0)
    health = _assess(records, loop_lags=[0.001] * 90 + [0.05] * 10, cpu_fraction=0.97,
                     peak_in_flight=12)
    failing = sorted(c.name for c in health.checks if not c.ok)  # type: ignore[attr-defined]
    assert failing == ["client_cpu", "connection_pool", "loop_lag_p99"]
    relaxed = _assess(records, loop_lags=[0.05] * 10, cpu_fraction=0.97, peak_in_flight=12,
                      thresholds=HealthThresholds(loop_lag_p99_s=0.1, max_cpu_fraction=1.0),
                      pool_size=None)
    assert relaxed.valid  # type: ignore[attr-defined]


def test_open_loop_achieved_rate_is_compared_with_the_timeline() -> None:
    due = [i * 0.1 for i in range(21)]  # 10 requests/s
    on_time = [timeline(i, scheduled=t, call=t + 0.0005) for i, t in enumerate(due)]
    health = _assess(on_time, load_kind="rate", target_load=10.0)
    assert health.scheduled_load == pytest.approx(10.0)  # type: ignore[attr-defined]
    assert health.valid  # type: ignore[attr-defined]
    # A client that can only send every 0.15 s falls behind: lag grows, the rate drops.
    late = [timeline(i, scheduled=t, call=i * 0.15) for i, t in enumerate(due)]
    health = _assess(late, load_kind="rate", target_load=10.0)
    assert health.achieved_load == pytest.approx(1 / 0.15)  # type: ignore[attr-defined]
    failing = {c.name for c in health.checks if not c.ok}  # type: ignore[attr-defined]
    assert failing == {"schedule_lag_p99", "achieved_rate"}


def _search(rates: list[float], limit: float, steps: int = 4) -> RateSearch:
    search = RateSearch(rates, extra_steps=steps)
    while (rate := search.next_rate()) is not None:
        search.record(rate, rate <= limit)
    return search


def test_rate_search_brackets_then_bisects() -> None:
    search = _search([1, 2, 4, 8], limit=5.0, steps=3)
    assert [p.rate for p in search.probes] == [1, 2, 4, 8, 6, 5, 5.5]
    assert search.best == 5.0


def test_rate_search_grows_when_everything_passes_and_handles_no_pass() -> None:
    grown = _search([1, 2], limit=100.0, steps=3)
    assert [p.rate for p in grown.probes] == [1, 2, 4, 8, 16]
    assert grown.best == 16
    none = _search([4], limit=0.5, steps=3)
    assert [p.rate for p in none.probes] == [4, 2, 1, 0.5]
    assert none.best == 0.5


@given(st.floats(0.3, 50.0), st.integers(0, 6))
def test_rate_search_never_reports_a_failing_rate(limit: float, steps: int) -> None:
    search = _search([1.0, 2.0, 4.0], limit, steps)
    assert len(search.probes) <= 3 + steps
    if search.best is not None:
        assert search.best <= limit
        failure = search.lowest_failure
        assert failure is None or search.best < failure

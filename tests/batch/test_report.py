"""Progress lines and bars, and the final summary (text and JSON)."""

import io
import re

import pytest

from aiovertexchat import RateLimitError
from aiovertexchat._protocol.pricing import PriceTable
from aiovertexchat.batch import BatchResult, BatchSummary
from aiovertexchat.batch.progress import (
    BarReporter,
    LineReporter,
    NullReporter,
    ProgressSnapshot,
    make_reporter,
)
from aiovertexchat.types import (
    ChatCompletion,
    CompletionTokensDetails,
    PromptTokensDetails,
    Usage,
)

SNAP = ProgressSnapshot(elapsed=20.0, done=500, total=2000, failed=3, skipped=100,
                        tokens=12345, rate_limited=7, retries=9, in_flight=64)


def test_snapshot_rate_eta_and_line() -> None:
    assert SNAP.rate == 25.0
    assert SNAP.eta == 60.0
    assert SNAP.fraction == 0.25
    assert SNAP.line() == (
        "[batch 00:20] 500/2,000 (25.0%) · skipped 100 · 25.0/s · tok 12,345 · err 3 · 429 7 · "
        "retry 9 · in-flight 64 · eta 01:00"
    )
    assert SNAP.bar(8) == (
        "[##......] 500/2,000 · 25.0/s · tok 12,345 · err 3 · 429 7 · retry 9 · in-flight 64 · "
        "eta 01:00"
    )
    empty = ProgressSnapshot(elapsed=0.0)
    assert empty.rate is None and empty.eta is None and empty.fraction is None
    assert empty.line() == (
        "[batch 00:00] 0 · -/s · tok 0 · err 0 · 429 0 · retry 0 · in-flight 0 · eta --:--"
    )
    assert ProgressSnapshot(elapsed=7200.0, done=1, total=2).eta == 7200.0
    assert "eta 2:00:00" in ProgressSnapshot(elapsed=7200.0, done=1, total=2).line()


def test_line_reporter_prints_every_interval_and_at_the_end() -> None:
    out = io.StringIO()
    reporter = LineReporter(out, interval=10.0)
    for elapsed in (1.0, 9.9, 10.0, 15.0, 20.5):
        reporter.update(ProgressSnapshot(elapsed=elapsed, done=int(elapsed)))
    reporter.message("stopping: something")
    reporter.close(ProgressSnapshot(elapsed=21.0, done=21))
    lines = out.getvalue().splitlines()
    assert [line.split("]")[0] for line in lines if line.startswith("[")] == [
        "[batch 00:10", "[batch 00:20", "[batch 00:21",
    ]
    assert "stopping: something" in lines
    assert LineReporter(out, interval=0).period == 0.01  # never a busy loop


def test_plain_bar_redraws_in_place() -> None:
    out = io.StringIO()
    bar = BarReporter(out, use_rich=False)
    bar.update(SNAP)
    bar.message("note")
    bar.close(SNAP)
    text = out.getvalue()
    assert text.startswith("\r[")
    assert "\rnote\n" in text and text.endswith("\n")


def test_rich_bar_renders_counts() -> None:
    pytest.importorskip("rich")
    out = io.StringIO()
    bar = BarReporter(out)
    bar.update(SNAP)
    bar.message("a message")
    bar.close(SNAP)
    text = out.getvalue()
    assert "500/2,000 (25.0%)" in text and "a message" in text
    assert SNAP.counters() in text


def test_make_reporter_modes() -> None:
    pipe = io.StringIO()
    assert isinstance(make_reporter("quiet", stream=pipe), NullReporter)
    assert isinstance(make_reporter("auto", stream=pipe), LineReporter)  # not a terminal
    assert isinstance(make_reporter("plain", stream=pipe), LineReporter)
    assert isinstance(make_reporter("bar", stream=pipe), BarReporter)
    with pytest.raises(ValueError, match="progress mode"):
        make_reporter("fancy", stream=pipe)


def completion(prompt: int, completion_tokens: int, reasoning: int = 0, cached: int = 0,
               model: str = "google/gemini-2.5-flash") -> ChatCompletion:
    return ChatCompletion(id="c", model=model, usage=Usage(
        prompt_tokens=prompt, completion_tokens=completion_tokens,
        total_tokens=prompt + completion_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=cached),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=reasoning),
    ))


def test_summary_totals_cost_and_percentiles() -> None:
    prices = PriceTable.default()
    summary = BatchSummary(prices=prices, total=10, skipped_succeeded=2, skipped_failed=1)
    ok = [
        BatchResult("a", completion(1000, 200, reasoning=50, cached=400), latency=0.010,
                    model="google/gemini-2.5-flash"),
        BatchResult("b", completion(10, 10), latency=0.020, model="google/gemini-2.5-pro"),
        BatchResult("c", completion(5, 5, model="mystery"), latency=0.030, model=None),
    ]
    failed = BatchResult("d", error=RateLimitError("busy", status_code=429,
                                                   google_status="RESOURCE_EXHAUSTED"),
                         latency=0.040)
    for result in [*ok, failed]:
        summary.add(result)
    expected = prices.cost("google/gemini-2.5-flash", ok[0].usage)  # type: ignore[arg-type]
    expected = expected + prices.cost("google/gemini-2.5-pro", ok[1].usage)  # type: ignore[arg-type]
    data = summary.to_dict(elapsed=2.0)
    assert data["items"] == {"total": 10, "succeeded": 3, "failed": 1, "skipped": 3,
                             "skipped_succeeded": 2, "skipped_failed": 1, "remaining": 3}
    assert data["tokens"] == {"prompt": 1015, "completion": 215, "reasoning": 50,
                              "cached": 400, "total": 1230}
    assert data["cost_usd"]["total"] == pytest.approx(expected.total_usd, abs=1e-6)
    assert data["cost_usd"]["unpriced_items"] == 1
    assert data["cost_usd"]["unpriced_models"] == ["mystery"]
    assert data["cost_usd"]["batch_prediction_discount"] == 0.5
    assert data["latency_s"]["p50"] == pytest.approx(0.025, rel=0.01)  # midway, as in the bench
    assert data["latency_s"]["p99"] == pytest.approx(0.0397, rel=0.01)
    assert data["latency_s"]["max"] == 0.040
    assert data["items_per_s"] == 2.0
    assert data["errors_by_code"] == {"RESOURCE_EXHAUSTED": 1}
    text = summary.render(elapsed=2.0)
    assert text.splitlines()[0] == (
        "batch completed in 2.0 s: 3 succeeded, 1 failed, 3 skipped of 10, 3 not done"
    )
    assert "tokens: prompt 1,015 · completion 215 · reasoning 50 · cached 400" in text
    assert "at on-demand prices (online API; Vertex batch prediction would bill about 50%" in text
    assert "1 item unpriced (no price for mystery)" in text
    assert "failures by code: RESOURCE_EXHAUSTED 1" in text
    # The bench's percentiles (25, 37, 39.7 ms) of bucket upper bounds: at most 1 % above.
    assert re.search(r"latency: p50 25\.\d ms · p90 37\.\d ms · p99 39\.\d ms", text)


def test_summary_without_prices_and_long_durations() -> None:
    summary = BatchSummary()
    summary.add(BatchResult("a", completion(1, 1), latency=0.5))
    assert summary.cost.total_usd == 0 and sum(summary.unpriced.values()) == 1
    assert "batch completed in 1m05s" in summary.render(elapsed=65)
    assert "batch interrupted in 2h00m00s" in summary.render(elapsed=7200, state="interrupted")

"""The bench end to end against emulators with known delays, its files, report and CLI.

Timing tolerances. The emulator waits with `asyncio.sleep`, which never returns early, and it
only starts waiting after the request arrived, so its configured delays are *lower bounds* of
what the client can observe: TTFT >= ttft and e2e >= ttft + itl * (chunks after the first).
They are asserted tightly (1-2 ms of slack for clock granularity). Upper bounds only catch
gross errors (e.g. a unit mix-up or counting from the wrong event), because a loaded 2-core CI
machine adds arbitrary positive delay: they are generous on purpose. Single inter-chunk gaps
have no lower bound (a chunk read late shortens the next gap; chunks read together have gap
0), but their mean over a request is (last - first) / (n - 1), which only shrinks if the
first chunk is read later than the last one, so means and TPOT get a 10% lower band.
"""

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aiovertexchat.bench import (
    SLO,
    ArrivalProcess,
    BenchConfig,
    HealthThresholds,
    LengthSpec,
    Load,
    Target,
    Workload,
    run_bench,
)
from aiovertexchat.bench.output import CSV_COLUMNS, write_csv, write_json, write_jsonl
from aiovertexchat.bench.report import render
from aiovertexchat.cli.commands import main
from aiovertexchat.emulator import Emulator, EmulatorConfig

TTFT, ITL, TOKENS = 0.05, 0.01, 10
# Health limits that never fail: for tests that check other things on a loaded machine.
LENIENT = HealthThresholds(schedule_lag_p99_s=60, loop_lag_p99_s=60, min_achieved_fraction=0,
                           max_cpu_fraction=100)


@pytest.fixture
async def slow_emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(ttft=TTFT, itl=ITL)) as emu:
        yield emu


def config(emu: Emulator, **overrides: object) -> BenchConfig:
    settings: dict[str, object] = {
        "targets": [Target("emu", emu.base_url, api_key="test")],
        "loads": [Load.concurrency(2)],
        "requests": 8,
        "workload": Workload(prompt_tokens=LengthSpec(20), max_tokens=TOKENS, seed=1),
        "thresholds": LENIENT,
    }
    settings.update(overrides)
    return BenchConfig(**settings)  # type: ignore[arg-type]


async def test_reported_latencies_match_the_emulator_delays(slow_emulator: Emulator) -> None:
    result = await run_bench(config(slow_emulator, warmup=2))
    (point,) = result.points
    s = point.summary
    assert (s.requests, s.ok, s.errors) == (8, 8, {})
    assert slow_emulator.stats.requests == 10  # warm-up requests were sent, not counted
    records = point.repeats[0].records
    for r in records:
        assert r.output_tokens == TOKENS and len(r.token_times) == TOKENS
        assert r.ttft is not None and r.ttft >= TTFT - 0.001
        assert r.e2e is not None and r.e2e >= TTFT + TOKENS * ITL - 0.002  # + the usage chunk
        assert r.ttfr is None  # the emulator streams no reasoning
    assert s.ttft is not None and s.ttft.p50 < TTFT + 0.25
    assert s.ttfc is not None and s.ttfc.p50 <= s.ttft.p50
    assert s.itl is not None and s.itl.count == 8 * (TOKENS - 1)
    assert ITL * 0.9 <= s.itl.mean < ITL + 0.05
    assert s.tpot is not None and ITL * 0.9 <= s.tpot.p50 < ITL + 0.05
    # Token accounting: usage is exact on the emulator (one word = one token, one per chunk).
    assert s.output_tokens == 8 * TOKENS and s.client_tokens == 8 * TOKENS
    assert s.token_discrepancy == 0.0 and s.tokens_per_chunk == 1.0
    assert s.prompt_tokens == sum(r.prompt_words for r in records) == 8 * 20
    # Closed loop: at most two in flight, and each record's latencies are counted from its call.
    assert point.repeats[0].health.peak_in_flight == 2
    assert all(r.call_at is not None and r.call_at >= r.scheduled_at for r in records)


async def test_open_loop_follows_its_precomputed_timeline(slow_emulator: Emulator) -> None:
    load = Load.rate(50.0, ArrivalProcess("constant"))
    result = await run_bench(config(slow_emulator, loads=[load], requests=10))
    (point,) = result.points
    repeat = point.repeats[0]
    due = [r.scheduled_at - repeat.window_start for r in repeat.records]
    assert due == pytest.approx([i / 50.0 for i in range(10)])
    # Never sent early; each request is timed from its own call, not from its slot.
    assert all(r.schedule_lag is not None and r.schedule_lag >= -0.001 for r in repeat.records)
    assert repeat.health.scheduled_load == pytest.approx(50.0)
    assert repeat.health.achieved_load is not None and repeat.health.achieved_load > 0
    # Requests overlap (e2e 0.15 s, one every 0.02 s): the open loop did not wait for them.
    assert repeat.health.peak_in_flight >= 3


@pytest.mark.parametrize("load", [Load.rate(100.0, ArrivalProcess("constant")),
                                  Load.concurrency(2)])
async def test_a_saturated_client_is_flagged_invalid(load: Load) -> None:
    """A blocking callback on the loop stands in for a client too slow for its schedule."""
    blocked = []

    def busy(index: int) -> None:
        blocked.append(index)
        time.sleep(0.03)  # blocks the event loop, like heavy per-request client work

    async with Emulator(EmulatorConfig(ttft=0.005, itl=0.001)) as emu:
        result = await run_bench(
            config(emu, loads=[load], requests=10, before_send=busy,
                   thresholds=HealthThresholds())
        )
    (point,) = result.points
    assert len(blocked) == 10
    assert not point.valid and not result.valid
    failing = {c.name for c in point.repeats[0].health.checks if not c.ok}
    # 30 ms of blocking per request: every request but the first leaves >= 20 ms late.
    assert "schedule_lag_p99" in failing
    if load.kind == "rate":
        assert "achieved_rate" in failing  # one send per >= 30 ms cannot offer 100/s
    assert result.to_dict()["valid"] is False
    report = io.StringIO()
    render(result, report, use_rich=False)
    assert "INVALID" in report.getvalue()
    assert "schedule lag p99" in report.getvalue()


async def test_targets_side_by_side_with_their_own_models() -> None:
    async with Emulator(EmulatorConfig(ttft=0.005)) as fast, \
            Emulator(EmulatorConfig(ttft=0.08)) as slow:
        a = Target.parse(f"fast={fast.base_url}@google/gemini-2.5-flash")
        b = Target.parse(f"slow={slow.base_url}@google/gemini-2.5-pro")
        targets = [Target(t.name, t.base_url, t.model, api_key="k") for t in (a, b)]
        result = await run_bench(BenchConfig(
            targets=targets, loads=[Load.concurrency(1), Load.concurrency(3)], requests=6,
            workload=Workload(prompt_tokens=LengthSpec(10), max_tokens=4), thresholds=LENIENT,
        ))
    assert [(p.target, p.load.label, p.model) for p in result.points] == [
        ("fast", "c=1", "google/gemini-2.5-flash"), ("slow", "c=1", "google/gemini-2.5-pro"),
        ("fast", "c=3", "google/gemini-2.5-flash"), ("slow", "c=3", "google/gemini-2.5-pro"),
    ]
    fast_point, slow_point = result.points[0].summary, result.points[1].summary
    assert slow_point.ttft is not None and slow_point.ttft.min >= 0.08 - 0.001
    assert fast_point.ttft is not None and fast_point.ttft.p50 < slow_point.ttft.p50
    # Same tokens, different price tables: pro costs more per request (10+4 tokens each).
    assert fast_point.cost is not None and slow_point.cost is not None
    assert fast_point.cost.per_request_usd == pytest.approx((10 * 0.30 + 4 * 2.50) / 1e6)
    assert slow_point.cost.per_request_usd == pytest.approx((10 * 1.25 + 4 * 10.0) / 1e6)


async def test_max_rate_search_finds_the_capacity_bracket() -> None:
    # The emulator answers 429 beyond 2 requests in flight; a request takes >= 0.1 s, so the
    # capacity is under 20/s: 8/s fits (at most one in flight), 60/s keeps ~6 in flight.
    async with Emulator(EmulatorConfig(ttft=0.05, itl=0.01, max_concurrency=2)) as emu:
        result = await run_bench(config(
            emu, loads=[Load.rate(8.0, ArrivalProcess("constant")), Load.rate(60.0)],
            requests=10, workload=Workload(prompt_tokens=LengthSpec(5), max_tokens=6),
            slo=SLO.parse("e2e=5s"), find_max_rate=True, search_steps=1,
        ))
    (found,) = result.max_rates
    assert [p.passed for p in found.probes[:2]] == [True, False]
    assert "RateLimitError" in result.points[1].summary.errors
    assert len(found.probes) == 3  # 8, 60, then one bisection step (34/s)
    assert found.max_rate is not None and 8.0 <= found.max_rate < 60.0
    assert result.to_dict()["max_rate"][0]["max_rate"] == found.max_rate


async def test_output_files_and_report(slow_emulator: Emulator, tmp_path: Path) -> None:
    result = await run_bench(config(
        slow_emulator, loads=[Load.concurrency(1), Load.concurrency(3)], requests=4, repeat=2,
        workload=Workload(prompt_tokens=LengthSpec(8), max_tokens=3),
        slo=SLO.parse("ttft=2s,tpot=1s"),
    ))
    write_json(result, tmp_path / "out.json")
    summary = json.loads((tmp_path / "out.json").read_text())
    assert {"schema", "started_at", "valid", "environment", "config", "points", "max_rate"} <= set(
        summary)
    point = summary["points"][0]
    assert {"target", "model", "load", "valid", "invalid_reasons", "meets_slo", "summary",
            "confidence_intervals", "repeats"} <= set(point)
    assert {"ttft", "tpot", "itl", "e2e", "goodput", "good_fraction", "cost", "errors",
            "request_throughput", "output_token_throughput"} <= set(point["summary"])
    assert set(point["summary"]["ttft"]) == {"count", "mean", "p50", "p90", "p95", "p99",
                                             "max", "min"}
    assert point["summary"]["requests"] == 8  # two repeats of 4, pooled
    ci = point["confidence_intervals"]["ttft_p50"]
    assert ci["n"] == 2 and ci["low"] <= ci["mean"] <= ci["high"]
    health = point["repeats"][0]["client_health"]
    assert {"schedule_lag", "loop_lag", "gate_wait", "cpu_fraction", "achieved_load", "checks",
            "valid"} <= set(health)

    assert write_csv(result, tmp_path / "req.csv") == 16
    rows = list(csv.DictReader(io.StringIO((tmp_path / "req.csv").read_text(), newline="")))
    assert len(rows) == 16 and tuple(rows[0]) == CSV_COLUMNS
    assert {r["repeat"] for r in rows} == {"1", "2"} and rows[0]["ok"] == "True"
    assert float(rows[0]["ttft_s"]) >= TTFT - 0.001 and rows[0]["output_tokens"] == "3"

    assert write_jsonl(result, tmp_path / "req.jsonl") == 16
    lines = [json.loads(x) for x in (tmp_path / "req.jsonl").read_text().splitlines()]
    assert len(lines[0]["token_chunk_s"]) == 3
    assert lines[0]["token_chunk_s"][0] == pytest.approx(lines[0]["ttft_s"])

    pytest.importorskip("matplotlib")
    from aiovertexchat.bench.plot import write_plot

    write_plot(result, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    for use_rich in (False, True):
        text = io.StringIO()
        render(result, text, use_rich=use_rich)
        out = text.getvalue()
        for words in ("TTFT (first content token)", "Throughput and goodput", "Cost (USD",
                      "Client health", "Student-t", "c=3"):
            assert words in out


async def test_errors_are_counted_by_class_and_never_good() -> None:
    from aiovertexchat.emulator import Fault

    faults = (Fault.parse("503"), Fault.parse("reset-mid-stream:after=2"))
    async with Emulator(EmulatorConfig(faults=faults, fault_rate=1.0, seed=3)) as emu:
        result = await run_bench(config(emu, requests=10, slo=SLO.parse("e2e=10s")))
    s = result.points[0].summary
    assert s.ok == 0 and s.good == 0 and s.good_fraction == 0.0 and s.error_rate == 1.0
    assert set(s.errors) == {"InternalServerError", "StreamInterruptedError"}
    assert sum(s.errors.values()) == 10
    assert s.ttft is None  # failures are left out of latency distributions
    assert s.cost is not None and s.cost.total_usd == 0.0


def test_cli_runs_the_embedded_emulator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    code = main(["bench", "--emulator", "--concurrency", "1,2", "--requests", "4",
                 "--emulator-ttft", "5ms", "--emulator-itl", "1ms", "--max-tokens", "4",
                 "--prompt-tokens", "6", "--slo", "ttft=5s", "--json", str(out), "--plain",
                 "--quiet", "--health", "schedule_lag=10s,loop_lag=10s,achieved=0,cpu=100"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "embedded emulator (ttft 5 ms, itl 1 ms)" in printed
    assert "every run valid" in printed
    data = json.loads(out.read_text())
    assert [p["load"]["value"] for p in data["points"]] == [1.0, 2.0]
    assert data["points"][0]["summary"]["ok"] == 4
    assert data["points"][0]["summary"]["ttft"]["min"] >= 0.005 - 0.001


@pytest.mark.parametrize(
    ("argv", "words"),
    [(["--target", "nourl"], "NAME=URL"),
     (["--target", "a=ftp://x"], "http(s)://"),
     (["--slo", "ttft=fast"], "not a duration"),
     (["--arrivals", "weibull"], "unknown arrival"),
     (["--health", "lag=1"], "unknown health limit"),
     (["--emulator-fault", "explode"], "unknown fault kind")],
)
def test_cli_rejects_bad_flags(argv: list[str], words: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["bench", *argv])
    assert info.value.code == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "words"),
    [(["--find-max-rate", "--rate", "1"], "needs an SLO"),
     (["--api-key-env", "AIOVERTEXCHAT_TEST_UNSET_VAR"], "is not set"),
     (["--prompts", "/nonexistent/p.jsonl"], "No such file"),
     # The managed Vertex endpoint needs a publisher in the model: refused before sending.
     (["--target", "v=http://127.0.0.1:9/v1/projects/p/locations/l/endpoints/openapi@flash",
       "--api-key-env", "AIOVERTEXCHAT_TEST_TOKEN", "--requests", "1"], "publisher")],
)
def test_cli_config_errors_exit_2(argv: list[str], words: str, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AIOVERTEXCHAT_TEST_TOKEN", "t")
    assert main(["bench", *argv]) == 2
    assert words in capsys.readouterr().err


def test_target_spec_parsing() -> None:
    t = Target.parse("vertex=https://x.example/v1beta1/projects/p/locations/l/endpoints/openapi"
                     "@google/gemini-2.5-pro")
    assert t.base_url is not None and t.base_url.endswith("/endpoints/openapi")
    assert t.model == "google/gemini-2.5-pro"
    assert Target.parse("local=http://127.0.0.1:8000/v1").model is None
    emu = Target.parse("e=emulator@m")
    assert emu.is_emulator and emu.model == "m"
    assert "secret" not in repr(Target("n", "http://h", api_key="secret"))


def test_summary_of_no_requests_is_well_defined() -> None:
    from aiovertexchat.bench import summarize

    s = summarize([], window_start=0.0, slo=SLO(), model="m", prices=None)
    assert (s.requests, s.ok, s.request_throughput, s.ttft, s.error_rate) == (0, 0, 0.0, None, 0.0)


@pytest.mark.parametrize("load", [Load.concurrency(2), Load.rate(200.0)])
async def test_cancelling_a_run_stops_sending(load: Load) -> None:
    sent: list[int] = []
    two_sent = asyncio.Event()

    def count(index: int) -> None:
        sent.append(index)
        if len(sent) == 2:
            two_sent.set()

    # A first token that takes 5 s: if the cancel waited for requests in flight, the emulator
    # would have started streaming them.
    async with Emulator(EmulatorConfig(ttft=5.0)) as emu:
        task = asyncio.create_task(
            run_bench(config(emu, loads=[load], requests=50, before_send=count))
        )
        await two_sent.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The cancel runs before the dispatcher's or a worker's next turn: nothing more sent.
        assert len(sent) == 2
        assert emu.stats.streamed == 0


async def test_duration_bounds_both_loops(slow_emulator: Emulator) -> None:
    # Closed loop by duration builds prompts on demand; nothing is sent after the deadline.
    for load in (Load.concurrency(2), Load.rate(40.0, ArrivalProcess("constant"))):
        result = await run_bench(config(slow_emulator, loads=[load], requests=None,
                                        duration=0.3))
        repeat = result.points[0].repeats[0]
        sent = [r.call_at - repeat.window_start for r in repeat.records
                if r.call_at is not None]
        assert len(sent) >= 2 and all(r.ok for r in repeat.records)
        due = [r.scheduled_at - repeat.window_start for r in repeat.records]
        assert max(due) < 0.3  # every request was due before the deadline
        if load.kind == "rate":
            assert len(sent) == 12  # offsets 0, 0.025, ..., 0.275


def test_flags_build_the_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from aiovertexchat.bench.cli import build_config
    from aiovertexchat.cli.commands import _parser

    monkeypatch.setenv("TOKEN_A", "secret-a")
    monkeypatch.setenv("TOKEN_ALL", "secret-all")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('"hello there"\n')
    args = _parser().parse_args([
        "bench", "--target", "a=http://127.0.0.1:1/v1@m1", "--target", "b=emulator",
        "--api-key-env", "TOKEN_ALL", "--api-key-env", "a=TOKEN_A",
        "--rate", "2,4", "--arrivals", "gamma:0.5", "--duration", "30s", "--warmup", "3",
        "--prompts", str(prompts), "--cache-bust", "--slo", "ttft=500ms,tpot=50ms",
        "--repeat", "3", "--count-tokens", "words", "--max-connections", "64",
        "--health", "loop_lag=20ms,cpu=0.8", "--extra-body", '{"ignore_eos": true}',
    ])
    cfg = build_config(args)
    assert [(t.name, t.base_url, t.model, t.api_key) for t in cfg.targets] == [
        ("a", "http://127.0.0.1:1/v1", "m1", "secret-a"), ("b", None, None, "secret-all")]
    assert [(load.kind, load.value, str(load.arrivals)) for load in cfg.loads] == [
        ("rate", 2.0, "gamma:0.5"), ("rate", 4.0, "gamma:0.5")]
    assert (cfg.requests, cfg.duration, cfg.warmup, cfg.repeat) == (None, 30.0, 3, 3)
    assert cfg.workload.prompts is not None and cfg.workload.cache_bust
    assert cfg.slo.limits == {"ttft": 0.5, "tpot": 0.05}
    assert cfg.token_counter is not None and cfg.token_counter("a b c") == 3
    assert cfg.pool_size() == 64 and cfg.extra_body == {"ignore_eos": True}
    assert cfg.thresholds.loop_lag_p99_s == pytest.approx(0.02)
    assert cfg.thresholds.max_cpu_fraction == 0.8
    assert "secret" not in json.dumps(cfg.to_dict())
    default = build_config(_parser().parse_args(["bench"]))
    assert [t.name for t in default.targets] == ["emulator"]
    assert (default.requests, default.loads[0].label) == (100, "c=1")

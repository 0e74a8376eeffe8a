"""Multi-turn sessions (the history grows, answers included) and trace replay (recorded
arrival times, lengths and shared prefixes), against the emulator, whose `prompt_tokens` is
the number of words in all messages and whose answer is exactly `max_tokens` words."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from aiovertexchat.bench import BenchConfig, Load, Target, Workload, run_bench
from aiovertexchat.bench.datasets import DatasetError
from aiovertexchat.bench.trace import TraceEntry, load_trace, trace_offsets
from aiovertexchat.bench.workload import LengthSpec
from aiovertexchat.emulator import Emulator, EmulatorConfig
from tests.bench.test_run import LENIENT


def _config(emu: Emulator, workload: Workload, **overrides: Any) -> BenchConfig:
    settings: dict[str, Any] = {"targets": [Target("emu", emu.base_url, api_key="k")],
                                "workload": workload, "thresholds": LENIENT}
    settings.update(overrides)
    return BenchConfig(**settings)


@pytest.mark.parametrize("workers", [1, 2])
async def test_each_turn_sends_the_growing_history(workers: int) -> None:
    prompt, answer, turns = 5, 4, 3
    workload = Workload(prompt_tokens=LengthSpec(prompt), max_tokens=answer, turns=turns,
                        think_time=0.02, seed=2)
    async with Emulator(EmulatorConfig(ttft=0.002, itl=0.001)) as emu:
        result = await run_bench(_config(emu, workload, loads=[Load.concurrency(2)],
                                         requests=4, workers=workers))
    (point,) = result.points
    records = point.repeats[0].records
    assert len(records) == 4 * turns and all(r.ok for r in records)
    by_session: dict[int, list[Any]] = {}
    for r in records:
        assert r.session is not None
        by_session.setdefault(r.session, []).append(r)
    assert sorted(by_session) == [0, 1, 2, 3]
    for session in by_session.values():
        session.sort(key=lambda r: r.turn)
        assert [r.turn for r in session] == [1, 2, 3]
        # Turn k carries every earlier prompt and answer: prompt + k-1 * (answer + prompt).
        assert [r.prompt_tokens for r in session] == [prompt + k * (answer + prompt)
                                                      for k in range(turns)]
        # Think time: each turn was due 20 ms after the previous one ended.
        for before, after in itertools.pairwise(session):
            assert after.scheduled_at - before.end_at == pytest.approx(0.02, abs=1e-9)
            assert after.call_at >= after.scheduled_at - 1e-6  # the loop may wake 1 ns early
    table = point.summary.by_turn
    assert [(t.turn, t.requests, t.ok) for t in table] == [(1, 4, 4), (2, 4, 4), (3, 4, 4)]
    assert [t.prompt_tokens_mean for t in table] == [5.0, 14.0, 23.0]
    assert point.to_dict()["summary"]["by_turn"][2]["turn"] == 3


async def test_a_failed_turn_ends_its_conversation() -> None:
    from aiovertexchat.emulator import Fault

    workload = Workload(prompt_tokens=LengthSpec(3), max_tokens=2, turns=4)
    async with Emulator(EmulatorConfig(faults=(Fault.parse("503"),), fault_rate=1.0)) as emu:
        result = await run_bench(_config(emu, workload, loads=[Load.concurrency(1)],
                                         requests=3))
    records = result.points[0].repeats[0].records
    assert [(r.session, r.turn, r.ok) for r in records] == [(0, 1, False), (1, 1, False),
                                                            (2, 1, False)]


def _write_trace(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("speed", [1.0, 4.0])
async def test_a_trace_is_replayed_at_its_times_and_lengths(tmp_path: Path, speed: float
                                                            ) -> None:
    rows = [
        {"timestamp": 1000, "input_length": 12, "output_length": 3, "hash_ids": [1, 2]},
        {"timestamp": 1120, "input_length": 7, "output_length": 5, "hash_ids": [1, 3]},
        {"timestamp": 1080, "input_length": 4, "output_length": 2},
        {"timestamp": 1400, "input_length": 9, "output_length": 1, "hash_ids": [1, 2, 9]},
    ]
    _write_trace(tmp_path / "t.jsonl", rows)
    trace = load_trace(tmp_path / "t.jsonl")
    assert [e.timestamp_ms for e in trace] == [1000, 1080, 1120, 1400]  # sorted
    workload = Workload(trace=trace, trace_block_tokens=5, seed=4)
    async with Emulator(EmulatorConfig(ttft=0.002, itl=0.001)) as emu:
        result = await run_bench(_config(emu, workload, loads=[Load.trace(speed)],
                                         requests=None, duration=60.0))
    (point,) = result.points
    repeat = point.repeats[0]
    records = repeat.records
    due = [r.scheduled_at - repeat.window_start for r in records]
    assert due == pytest.approx([0.0, 0.08 / speed, 0.12 / speed, 0.4 / speed], abs=1e-9)
    assert [r.prompt_tokens for r in records] == [12, 4, 7, 9]
    assert [r.output_tokens for r in records] == [3, 2, 5, 1]
    assert point.load.label == f"trace x{speed:g}"
    # Shared hash ids, shared text: block 1 opens requests 0, 2 and 3; block 2 follows it in
    # 0 and 3 (cut to its recorded length in 3).
    texts = [workload.request(i).messages[0]["content"].split() for i in range(4)]
    assert texts[0][:5] == texts[2][:5] == texts[3][:5]
    assert texts[0][:9] == texts[3][:9] and texts[2][5:7] != texts[0][5:7]
    assert [len(t) for t in texts] == [12, 4, 7, 9]


def test_trace_files_report_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"timestamp": 0, "input_length": 5, "output_length": 2}\n'
                    '{"timestamp": -1, "input_length": 5, "output_length": 2}\n'
                    'nope\n'
                    '{"timestamp": 3, "input_length": 0, "output_length": 2}\n'
                    '{"timestamp": 4, "output_length": 2}\n'
                    '{"timestamp": 5, "input_length": 2, "output_length": 2, "hash_ids": "x"}\n')
    with pytest.raises(DatasetError) as info:
        load_trace(path)
    assert [line for line, _ in info.value.problems] == [2, 3, 4, 5, 6]
    assert "missing input_length" in str(info.value)
    entries = [TraceEntry(500.0, 1, 1), TraceEntry(1500.0, 1, 1)]
    assert trace_offsets(entries, 2.0) == [0.0, 0.5]
    with pytest.raises(ValueError, match="speed"):
        trace_offsets(entries, 0)


def test_cli_trace_flags(tmp_path: Path) -> None:
    from aiovertexchat.bench.cli import build_config
    from aiovertexchat.cli.commands import _parser

    _write_trace(tmp_path / "t.jsonl", [{"timestamp": i * 100, "input_length": 3,
                                         "output_length": 2} for i in range(5)])
    config = build_config(_parser().parse_args(
        ["bench", "--trace", str(tmp_path / "t.jsonl"), "--trace-speed", "1,2.5"]))
    assert [(load.kind, load.value) for load in config.loads] == [("trace", 1.0),
                                                                  ("trace", 2.5)]
    assert config.requests == 5
    assert config.workload.trace is not None and len(config.workload.trace) == 5

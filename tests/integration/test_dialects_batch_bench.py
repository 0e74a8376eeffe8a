"""`bench` and `batch` end to end against every server dialect (issue 12).

The bench must see reasoning (time to first reasoning) whatever the server calls it, and must
count a stream cut off without a finish reason as a failure, also when the server sends `""`
finish reasons. A batch must write every valid answer to the output file, never to the errors
file: object arguments, aliased reasoning and answers without a candidate included.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aiovertexchat import AsyncVertexChat
from aiovertexchat._reliability.retry import RetryPolicy
from aiovertexchat.batch import BatchJob, JobConfig
from aiovertexchat.bench import (
    BenchConfig,
    HealthThresholds,
    LengthSpec,
    Load,
    Target,
    Workload,
    run_bench,
)
from aiovertexchat.emulator import Emulator, EmulatorConfig, Fault
from aiovertexchat.emulator.dialects import DIALECTS

NAMES = sorted(DIALECTS)
SHOWS_REASONING = {name for name, d in DIALECTS.items() if d.reasoning != "hidden"}
MODEL = "qwen3-8b"
LENIENT = HealthThresholds(schedule_lag_p99_s=60, loop_lag_p99_s=60, min_achieved_fraction=0,
                           max_cpu_fraction=100)
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"]}}}


def thinking_body(dialect: str) -> dict[str, Any]:
    """Request fields that make this server think and send its thinking."""
    if dialect == "gemini":
        return {"extra_body": {"google": {"thinking_config": {"include_thoughts": True,
                                                              "thinking_budget": 4}}}}
    return {"reasoning_effort": "low"}


def bench_config(emu: Emulator, dialect: str, requests: int = 6) -> BenchConfig:
    return BenchConfig(
        targets=[Target("emu", emu.base_url, model=MODEL, api_key="k")],
        loads=[Load.concurrency(2)],
        requests=requests,
        workload=Workload(prompt_tokens=LengthSpec(10), max_tokens=8, seed=1),
        extra_body=thinking_body(dialect),
        thresholds=LENIENT,
    )


@pytest.mark.parametrize("dialect", NAMES)
async def test_bench_sees_reasoning_in_every_dialect(dialect: str) -> None:
    async with Emulator(EmulatorConfig(dialect=dialect)) as emu:
        result = await run_bench(bench_config(emu, dialect))
    (point,) = result.points
    summary = point.summary
    assert (summary.requests, summary.ok, summary.errors) == (6, 6, {})
    assert summary.reasoning_tokens > 0
    records = point.repeats[0].records
    if dialect in SHOWS_REASONING:
        assert summary.ttfr is not None and summary.ttfr.count == 6
        assert all(r.ttfr is not None and r.ttft is not None and r.ttfr <= r.ttft
                   for r in records)
    else:  # OpenAI and TGI bill thinking without sending it
        assert summary.ttfr is None
    assert all(r.output_tokens >= 8 for r in records)


@pytest.mark.parametrize("dialect", NAMES)
async def test_bench_counts_a_cut_off_stream_as_a_failure(dialect: str) -> None:
    config = EmulatorConfig(
        dialect=dialect, faults=(Fault.parse("truncate:after=3"),), fault_rate=1.0
    )
    async with Emulator(config) as emu:
        result = await run_bench(bench_config(emu, dialect, requests=4))
    summary = result.points[0].summary
    assert summary.ok == 0 and sum(summary.errors.values()) == 4
    assert set(summary.errors) == {"StreamInterruptedError"}


def batch_lines(dialect: str) -> list[dict[str, Any]]:
    def line(custom_id: str, text: str, **body: Any) -> dict[str, Any]:
        return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
                "body": {"model": MODEL, "messages": [{"role": "user", "content": text}],
                         **body}}

    return [
        line("text", "hello [[tokens=4]]"),
        line("tool", "call get_weather", tools=[WEATHER]),
        line("think", "why [[tokens=2]]", **thinking_body(dialect)),
        line("empty", "[[finish=empty]]"),
    ]


@pytest.mark.parametrize("dialect", NAMES)
async def test_batch_writes_every_dialects_answers_as_successes(
    dialect: str, tmp_path: Path
) -> None:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in batch_lines(dialect)))
    policy = RetryPolicy(base=0.001, cap=0.01)
    async with Emulator(EmulatorConfig(dialect=dialect)) as emu, AsyncVertexChat(
        base_url=emu.base_url, api_key="k", retry=policy
    ) as client:
        outcome = await BatchJob(client, JobConfig(source, output, concurrency=4)).run()
        sent = emu.stats.requests
    errors = tmp_path / "out.errors.jsonl"
    assert not errors.exists() or errors.read_text() == ""
    assert outcome.summary.succeeded == 4 and outcome.summary.failed == 0
    assert sent == 4  # nothing re-sent
    text = output.read_text()
    assert "reasoning_content" not in text
    records = {r["custom_id"]: r["response"]["body"] for r in map(json.loads, text.splitlines())}

    assert len(records["text"]["choices"][0]["message"]["content"].split()) == 4
    call = records["tool"]["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert isinstance(call["function"]["arguments"], str)  # JSON text, even from llama.cpp/TGI
    assert set(json.loads(call["function"]["arguments"])) == {"city", "days"}
    think = records["think"]
    assert think["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0
    if dialect in SHOWS_REASONING:
        assert think["choices"][0]["message"]["reasoning"]
    else:
        assert "reasoning" not in think["choices"][0]["message"]
    assert records["empty"]["choices"] == []
    assert records["empty"]["usage"]["prompt_tokens"] == 1

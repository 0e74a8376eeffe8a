"""Beam's DirectRunner sending a few thousand requests to the emulator with injected faults
(429, 503, connection resets) and a few items that always fail: every custom_id comes out
exactly once across ok and failed, failures carry their error record, and no item is answered
twice (one retry layer: the client's)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

beam = pytest.importorskip("apache_beam")

from apache_beam.metrics.metric import MetricsFilter  # noqa: E402
from apache_beam.ml.inference.base import RunInference  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from aiovertexchat import RetryPolicy  # noqa: E402
from aiovertexchat.emulator import EmulatorConfig, Fault  # noqa: E402
from aiovertexchat.integrations.beam import (  # noqa: E402
    METRICS_NAMESPACE,
    THROTTLING_COUNTER,
    ChatCompletions,
    ChatCompletionsHandler,
)

from .harness import ObservedEmulator, request_line  # noqa: E402

ITEMS = 2000
POISON = {f"q{i}" for i in range(0, ITEMS, 400)}  # 5 items the emulator always refuses (400)
FAULTS = (Fault.parse("429"), Fault.parse("503"), Fault.parse("reset-before-headers"))
MAX_ATTEMPTS = 10


@pytest.fixture
def emulator() -> Iterator[ObservedEmulator]:
    config = EmulatorConfig(ttft=0.002, faults=FAULTS, fault_rate=0.1, seed=7)
    with ObservedEmulator(config) as emu:
        yield emu


def lines() -> list[dict[str, Any]]:
    return [request_line(f"q{i}", poison=f"q{i}" in POISON) for i in range(ITEMS)]


def client_options(emu: ObservedEmulator) -> dict[str, Any]:
    return {
        "base_url": emu.base_url,
        "api_key": "k",
        "max_concurrency": 64,
        "retry": RetryPolicy(max_attempts=MAX_ATTEMPTS, base=0.001, cap=0.01),
    }


def read_records(prefix: Path) -> list[dict[str, Any]]:
    records = []
    for shard in prefix.parent.glob(prefix.name + "*"):
        records += [json.loads(line) for line in shard.read_text().splitlines() if line]
    return records


def check_outcomes(emu: ObservedEmulator, ok: list[dict[str, Any]],
                   failed: list[dict[str, Any]]) -> None:
    ids = [r["custom_id"] for r in ok + failed]
    assert len(ids) == ITEMS and set(ids) == {f"q{i}" for i in range(ITEMS)}  # each once
    assert {r["custom_id"] for r in failed} == POISON
    for record in ok:
        assert record["error"] is None and record["response"]["status_code"] == 200
        assert record["response"]["body"]["choices"][0]["message"]["content"]
    for record in failed:
        assert record["error"]["code"] == "INVALID_ARGUMENT"
        assert record["response"]["status_code"] == 400
        assert "thinking is not supported" in record["error"]["message"]
    # One retry layer: every item answered 200 at most once, a refused item tried once (400 is
    # not retried), and no item tried more often than the client's own policy allows.
    answered = emu.answered(200)
    assert set(answered) == {f"q{i}" for i in range(ITEMS)} - POISON
    assert set(answered.values()) == {1}
    attempts = emu.attempts()
    assert all(attempts[item] == 1 for item in POISON)
    assert max(attempts.values()) <= MAX_ATTEMPTS
    # The faults did happen, and were retried by the client.
    assert sum(emu.state.stats.faults.values()) > ITEMS * 0.05
    assert sum(attempts.values()) > ITEMS + ITEMS * 0.05


def client_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "aiovertexchat-client"]


def test_chat_completions_transform_on_the_direct_runner(
    emulator: ObservedEmulator, tmp_path: Path
) -> None:
    pipeline = beam.Pipeline(runner="DirectRunner", options=PipelineOptions())
    results = pipeline | beam.Create(lines()) | ChatCompletions(**client_options(emulator))
    _ = results["ok"] | "ok" >> beam.Map(json.dumps) | "write ok" >> beam.io.WriteToText(
        str(tmp_path / "ok"))
    _ = results["failed"] | "bad" >> beam.Map(json.dumps) | "write bad" >> beam.io.WriteToText(
        str(tmp_path / "failed"))
    result = pipeline.run()
    result.wait_until_finish()
    check_outcomes(emulator, read_records(tmp_path / "ok"), read_records(tmp_path / "failed"))
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))[
            "counters"
        ]
    }
    assert counters["requests"] == ITEMS
    assert counters["failed"] == len(POISON)
    assert counters.get(THROTTLING_COUNTER, 0) >= 0
    assert client_threads() == []  # the last DoFn's teardown closed the client


def test_run_inference_with_the_handler(emulator: ObservedEmulator, tmp_path: Path) -> None:
    handler = ChatCompletionsHandler(batch_size=50, **client_options(emulator))
    with beam.Pipeline(runner="DirectRunner") as pipeline:
        _ = (
            pipeline
            | beam.Create(lines())
            | RunInference(handler)
            | beam.Map(lambda result: json.dumps(result.inference))
            | beam.io.WriteToText(str(tmp_path / "all"))
        )
    records = read_records(tmp_path / "all")
    ok = [r for r in records if r["error"] is None]
    failed = [r for r in records if r["error"] is not None]
    check_outcomes(emulator, ok, failed)


def test_handler_settings_travel_pickled_and_a_bad_line_gets_its_own_error(
    emulator: ObservedEmulator,
) -> None:
    handler = ChatCompletionsHandler(batch_size=4, **client_options(emulator))
    threads_before = len(client_threads())  # RunInference's shared model may still be alive
    copy = beam.internal.pickler.loads(beam.internal.pickler.dumps(handler))
    assert copy.batch_elements_kwargs() == {"min_batch_size": 4, "max_batch_size": 4}
    worker = copy.load_model()
    try:
        good = json.dumps(request_line("good"))
        results = list(copy.run_inference([good, "{not json", {"custom_id": "x"}], worker))
    finally:
        worker.close()
    records = [r.inference for r in results]
    assert records[0]["error"] is None and records[0]["custom_id"] == "good"
    assert records[1]["error"]["code"] == "invalid_request"
    assert "malformed JSON" in records[1]["error"]["message"]
    assert records[2]["custom_id"] == "x" and records[2]["error"]["code"] == "invalid_request"
    assert emulator.attempts() == {"good": 1}
    assert worker.closed and len(client_threads()) == threads_before

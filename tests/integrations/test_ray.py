"""Ray Data on a local Ray (`ray.init(num_cpus=2)`, no dashboard) sending a few thousand
requests to the emulator with injected faults and a few items that always fail: every
custom_id exactly once across output and errors files, failures with their error record, no
item answered twice, and a rerun that sends nothing already recorded."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from aiovertexchat import RetryPolicy  # noqa: E402
from aiovertexchat.emulator import EmulatorConfig, Fault  # noqa: E402
from aiovertexchat.integrations.ray import ChatCompletions, run_batch  # noqa: E402

from .harness import ObservedEmulator, request_line  # noqa: E402

ITEMS = 2000
POISON = {f"r{i}" for i in range(7, ITEMS, 400)}
FAULTS = (Fault.parse("429"), Fault.parse("503"), Fault.parse("reset-before-headers"))
MAX_ATTEMPTS = 10


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # no usage report over the network
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=256 * 1024 * 1024,
        log_to_driver=False,
        configure_logging=False,
    )
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture
def emulator() -> Iterator[ObservedEmulator]:
    config = EmulatorConfig(ttft=0.002, faults=FAULTS, fault_rate=0.1, seed=11)
    with ObservedEmulator(config) as emu:
        yield emu


def options(emu: ObservedEmulator) -> dict[str, Any]:
    return {
        "base_url": emu.base_url,
        "api_key": "k",
        "max_concurrency": 64,
        "retry": RetryPolicy(max_attempts=MAX_ATTEMPTS, base=0.001, cap=0.01),
    }


def write_input(path: Path, ids: list[str]) -> None:
    path.write_text(
        "".join(json.dumps(request_line(i, poison=i in POISON)) + "\n" for i in ids)
    )


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_run_batch_each_id_once_then_a_rerun_sends_nothing(
    local_ray: None, emulator: ObservedEmulator, tmp_path: Path
) -> None:
    ids = [f"r{i}" for i in range(ITEMS)]
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, ids)
    outcome = run_batch(source, output, actors=2, batch_size=100, **options(emulator))
    assert (outcome.succeeded, outcome.failed, outcome.duplicates) == (
        ITEMS - len(POISON), len(POISON), 0)
    ok, failed = records(output), records(outcome.errors)
    assert outcome.errors == tmp_path / "out.errors.jsonl"
    assert sorted(r["custom_id"] for r in ok + failed) == sorted(ids)  # each exactly once
    assert {r["custom_id"] for r in failed} == POISON
    for record in ok:
        assert record["error"] is None and record["response"]["status_code"] == 200
        assert record["id"].startswith("batch_req_")
    for record in failed:
        assert record["error"]["code"] == "INVALID_ARGUMENT"
        assert record["response"]["body"]["error"]["code"] == 400
    answered = emulator.answered(200)
    assert set(answered) == set(ids) - POISON and set(answered.values()) == {1}
    attempts = emulator.attempts()
    assert all(attempts[i] == 1 for i in POISON)
    assert max(attempts.values()) <= MAX_ATTEMPTS
    assert sum(attempts.values()) > ITEMS * 1.05  # faults happened and the client retried

    # Resume: a rerun (with a few new lines) sends only what is not recorded yet.
    before = len(emulator.arrivals)
    write_input(source, [*ids, "new1", "new2"])
    again = run_batch(source, output, actors=1, batch_size=100, **options(emulator))
    assert (again.succeeded, again.failed, again.skipped) == (2, 0, ITEMS)
    assert {a.item for a in emulator.arrivals[before:]} == {"new1", "new2"}
    assert len(records(output)) == ITEMS - len(POISON) + 2


def test_map_batches_with_custom_id_and_body_columns(
    local_ray: None, emulator: ObservedEmulator
) -> None:
    rows = [request_line(f"m{i}") for i in range(200)]
    rows[5] = {"custom_id": "m5", "body": {"messages": []}}  # refused before sending
    dataset = ray.data.from_items(
        [{"custom_id": r["custom_id"], "body": json.dumps(r["body"])} for r in rows]
    )
    out = dataset.map_batches(
        ChatCompletions,
        fn_constructor_kwargs=options(emulator),
        compute=ray.data.ActorPoolStrategy(size=1),
        batch_size=50,
    ).take_all()
    assert sorted(row["custom_id"] for row in out) == sorted(r["custom_id"] for r in rows)
    bad = [row for row in out if row["error"] is not None]
    assert [row["custom_id"] for row in bad] == ["m5"]
    assert json.loads(bad[0]["error"])["code"] == "invalid_request"
    assert bad[0]["response"] is None
    good = next(row for row in out if row["custom_id"] == "m0")
    assert json.loads(good["response"])["status_code"] == 200
    assert "m5" not in emulator.attempts()

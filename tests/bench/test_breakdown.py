"""The per-request breakdown: connection steps from aiohttp's tracing, time to second token."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from aiovertexchat import AsyncVertexChat
from aiovertexchat._http.tracing import measuring, timing_trace_config
from aiovertexchat.bench import BenchConfig, LengthSpec, Load, Target, Workload, run_bench
from aiovertexchat.bench.output import write_csv
from aiovertexchat.emulator import Emulator, EmulatorConfig
from tests.bench.test_run import LENIENT
from tests.helpers import HELLO, MODEL


async def test_connection_steps_of_new_and_reused_connections(tmp_path: Path) -> None:
    async with Emulator(EmulatorConfig(ttft=0.03, itl=0.005)) as emu:
        # "localhost", not an IP address: aiohttp resolves names only (and then caches them).
        url = emu.base_url.replace("127.0.0.1", "localhost")
        result = await run_bench(BenchConfig(
            targets=[Target("emu", url, api_key="k")], loads=[Load.concurrency(1)],
            requests=3, thresholds=LENIENT,
            workload=Workload(prompt_tokens=LengthSpec(4), max_tokens=5),
        ))
    first, second, third = result.points[0].repeats[0].records
    # The first request opened the connection: DNS and connect measured, nothing reused.
    assert first.reused_connection is False
    assert first.dns_s is not None and first.dns_s >= 0
    assert first.connect_s is not None and first.connect_s > 0
    # The next ones rode the same keep-alive connection: no DNS, no connect.
    for later in (second, third):
        assert later.reused_connection is True
        assert later.connect_s is None and later.dns_s is None
    for r in (first, second, third):
        assert r.sent_at is not None and r.call_at is not None and r.sent_at >= r.call_at
        assert r.first_byte_s is not None and r.ttfh is not None
        assert 0 <= r.first_byte_s <= r.ttfh
        # The second token chunk comes one ITL after the first (5 ms; no lower bound slack
        # is needed beyond clock granularity since chunks are timed as they are read).
        assert r.ttst is not None and r.ttft is not None and r.ttst > r.ttft
    write_csv(result, tmp_path / "r.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "r.csv").read_text())))
    assert rows[0]["reused_connection"] == "False" and rows[1]["reused_connection"] == "True"
    assert float(rows[0]["connect_s"]) > 0 and rows[1]["connect_s"] == ""
    assert float(rows[0]["ttst_s"]) > float(rows[0]["ttft_s"])


async def test_tracing_records_nothing_outside_measuring(emulator: Emulator) -> None:
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k") as client:
        client._transport.trace_configs.append(timing_trace_config())
        with measuring() as timings:
            await client.chat.completions.create(model=MODEL, messages=HELLO)
        assert timings.request_start is not None and timings.response_headers is not None
        assert timings.first_byte is not None and timings.first_byte >= 0
        # A request outside the block touches no record (the context variable is unset).
        await client.chat.completions.create(model=MODEL, messages=HELLO)
        assert timings.reused is False


@pytest.mark.parametrize("requests", [1, 2])
async def test_time_to_second_token_needs_two_chunks(requests: int) -> None:
    async with Emulator(EmulatorConfig(ttft=0.001, itl=0.001)) as emu:
        result = await run_bench(BenchConfig(
            targets=[Target("emu", emu.base_url, api_key="k")], loads=[Load.concurrency(1)],
            requests=requests, thresholds=LENIENT,
            workload=Workload(prompt_tokens=LengthSpec(2), max_tokens=1),
        ))
    assert all(r.ttst is None for r in result.points[0].repeats[0].records)

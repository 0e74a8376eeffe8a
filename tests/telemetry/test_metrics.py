"""Metrics against the emulator, through the SDK's in-memory reader: the conventions' histograms
(with their bucket advice) receive the right values, and ours count attempts, retries, 429s,
dollars, waits and the limiter's state."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from aiovertexchat import AsyncVertexChat, RateLimit, RateLimitError
from aiovertexchat._protocol.pricing import PriceTable
from aiovertexchat._reliability.retry import RetryPolicy
from aiovertexchat._telemetry import names
from aiovertexchat.emulator import Emulator, EmulatorConfig
from tests.helpers import MODEL, cancel, fault, fault_once, until, user

from .conftest import Telemetry

TWO_ATTEMPTS = RetryPolicy(base=0.001, cap=0.01, max_attempts=2)


def histogram(otel: Telemetry, name: str, **attrs: Any) -> tuple[int, float]:
    point = otel.point(name, **attrs)
    return point.count, point.sum


async def test_conventions_histograms_of_a_stream(otel: Telemetry) -> None:
    async with Emulator(EmulatorConfig(ttft=0.05, itl=0.002)) as emulator, otel.client(
        emulator
    ) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=user("hello [[tokens=8]]"), stream=True,
            stream_options={"include_usage": True},
        )
        async for _ in stream:
            pass
    usage = stream.usage
    assert usage is not None and usage.completion_tokens == 8
    ttfc_count, ttfc = histogram(otel, names.TIME_TO_FIRST_CHUNK)
    duration_count, duration = histogram(otel, names.OPERATION_DURATION)
    assert ttfc_count == duration_count == 1
    assert 0.05 <= ttfc <= duration  # TTFC within the emulator's delay and the call
    assert ttfc == otel.span().attributes["gen_ai.response.time_to_first_chunk"]  # type: ignore[index]
    assert histogram(otel, names.TOKEN_USAGE, gen_ai__token__type="input") == (
        1, usage.prompt_tokens)
    assert histogram(otel, names.TOKEN_USAGE, gen_ai__token__type="output") == (1, 8)
    # The conventions' bucket advice reaches the SDK.
    assert tuple(otel.point(names.OPERATION_DURATION).explicit_bounds) == names.DURATION_BUCKETS
    assert tuple(otel.point(names.TIME_TO_FIRST_CHUNK).explicit_bounds) == names.DURATION_BUCKETS
    assert tuple(otel.point(names.TOKEN_USAGE, gen_ai__token__type="input").explicit_bounds) == (
        names.TOKEN_BUCKETS)
    # Opt-in only: one record per chunk would be per-chunk work.
    assert otel.points(names.TIME_PER_OUTPUT_CHUNK) == []
    # The attributes every GenAI metric carries.
    point = otel.point(names.OPERATION_DURATION)
    assert dict(point.attributes) == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "_OTHER",
        "server.address": "127.0.0.1", "server.port": int(emulator.base_url.split(":")[2][:-3]),
        "gen_ai.request.model": MODEL, "gen_ai.response.model": MODEL,
    }


async def test_time_per_output_chunk_when_asked_for(emulator: Emulator, otel: Telemetry) -> None:
    async with otel.client(emulator, environ={names.CHUNK_LATENCY_ENV: "true"}) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=user("hello [[tokens=5]]"), stream=True
        )
        async for _ in stream:
            pass
    chunks = len(stream.metrics.chunk_times)
    count, total = histogram(otel, names.TIME_PER_OUTPUT_CHUNK)
    assert count == chunks - 1
    assert total == pytest.approx(stream.metrics.chunk_times[-1] - stream.metrics.chunk_times[0])


async def test_no_time_to_first_chunk_for_a_plain_call(
    emulator: Emulator, otel: Telemetry
) -> None:
    async with otel.client(emulator) as client:
        await client.chat.completions.create(model=MODEL, messages=user("hello"))
    assert otel.points(names.TIME_TO_FIRST_CHUNK) == []
    assert histogram(otel, names.OPERATION_DURATION)[0] == 1


async def test_dollar_cost_by_model(emulator: Emulator, otel: Telemetry) -> None:
    async with otel.client(emulator) as client:
        first = await client.chat.completions.create(
            model=MODEL, messages=user("hello [[tokens=7]]")
        )
        second = await client.chat.completions.create(
            model=MODEL, messages=user("a longer question for the price [[tokens=20]]")
        )
        # A model the price table does not know costs nothing we could name: no data point.
        await client.chat.completions.create(model="acme/unknown-model", messages=user("hi"))
    prices = PriceTable.default()
    assert first.usage is not None and second.usage is not None
    expected = prices.cost(MODEL, first.usage).total_usd + prices.cost(
        MODEL, second.usage).total_usd
    points = otel.points(names.COST)
    assert [p.attributes["gen_ai.request.model"] for p in points] == [MODEL]
    assert points[0].value == pytest.approx(expected)
    assert expected > 0
    assert otel.metrics()[names.COST].unit == "USD"


async def test_attempts_retries_and_429s(emulator: Emulator, otel: Telemetry) -> None:
    async with otel.client(emulator) as client:
        await client.chat.completions.create(
            model=MODEL, messages=user("hello"), extra_headers=fault_once("k", "429", times=2)
        )
        with pytest.raises(RateLimitError):
            await client.chat.completions.create(
                model=MODEL, messages=user("hello"), extra_headers=fault("429"),
                retry=TWO_ATTEMPTS,
            )
    attempts = {
        (p.attributes.get("http.response.status_code"), p.attributes.get("error.type")): p.value
        for p in otel.points(names.ATTEMPT_COUNT)
    }
    assert attempts == {(429, "429"): 4, (200, None): 1}
    assert otel.point(names.RETRY_COUNT, aiovertexchat__retry__cause="429").value == 3
    assert otel.point(names.RATE_LIMITED).value == 4
    failed = otel.point(names.OPERATION_DURATION, error__type="429")
    ok = [p for p in otel.points(names.OPERATION_DURATION) if "error.type" not in p.attributes]
    assert failed.count == 1 and len(ok) == 1 and ok[0].count == 1


def span_waits(otel: Telemetry, kind: str) -> list[float]:
    return [s.attributes[f"aiovertexchat.wait.{kind}"]  # type: ignore[index,misc]
            for s in otel.spans() if f"aiovertexchat.wait.{kind}" in (s.attributes or {})]


async def test_wait_for_a_concurrency_slot(held_emulator: Emulator, otel: Telemetry) -> None:
    held_emulator.config.itl = 0.0
    async with otel.client(held_emulator, max_concurrency=1) as client:
        first = await client.chat.completions.create(
            model=MODEL, messages=user("hello"), stream=True
        )
        second = asyncio.ensure_future(
            client.chat.completions.create(model=MODEL, messages=user("hello"))
        )
        await until(lambda: client.stats.queued == 1)
        async for _ in first:  # frees the slot the second call waits for
            pass
        await second
    waits = span_waits(otel, "concurrency")
    assert len(waits) == 2
    # Only the second call queued; the first found a free slot, which is no wait to count.
    assert min(waits) < names.WAITED <= max(waits)
    point = otel.point(names.WAIT_DURATION, aiovertexchat__wait__kind="concurrency")
    assert (point.count, point.sum) == (1, max(waits))
    assert tuple(point.explicit_bounds) == names.WAIT_BUCKETS


async def test_wait_for_a_rate_token(emulator: Emulator, otel: Telemetry) -> None:
    # 10 requests/s with a bucket of one: the second request waits for the refill.
    async with otel.client(emulator, rate_limit=RateLimit(rpm=600, burst=0.1)) as client:
        for _ in range(2):
            await client.chat.completions.create(model=MODEL, messages=user("hello"))
    first, second = span_waits(otel, "rate_limit")
    assert first < names.WAITED <= second
    point = otel.point(names.WAIT_DURATION, aiovertexchat__wait__kind="rate_limit")
    assert (point.count, point.sum) == (1, second)


async def test_wait_for_an_access_token(emulator: Emulator, otel: Telemetry) -> None:
    async def slow_token() -> str:
        await asyncio.sleep(0.002)  # a token source that takes its time, as a remote one does
        return "test-token"

    async with AsyncVertexChat(
        base_url=emulator.base_url, token=slow_token, tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
    ) as client:
        await client.chat.completions.create(model=MODEL, messages=user("hello"))
    (waited,) = span_waits(otel, "token")
    assert waited >= 0.002
    point = otel.point(names.WAIT_DURATION, aiovertexchat__wait__kind="token")
    assert (point.count, point.sum) == (1, waited)
    # The slot was free: not counted.
    assert [p.attributes[names.WAIT_KIND] for p in otel.points(names.WAIT_DURATION)] == ["token"]


async def test_limiter_gauges_read_at_collection(held_emulator: Emulator, otel: Telemetry) -> None:
    async with otel.client(held_emulator, max_concurrency=1) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=user("hello"), stream=True
        )
        queued = asyncio.ensure_future(
            client.chat.completions.create(model=MODEL, messages=user("hello"))
        )
        await until(lambda: client.stats.queued == 1)
        gauges = {name: otel.point(name).value for name in (
            names.IN_FLIGHT, names.QUEUED, names.CONCURRENCY_LIMIT, names.WAITING_FOR_RATE)}
        assert gauges == {names.IN_FLIGHT: 1, names.QUEUED: 1, names.CONCURRENCY_LIMIT: 1,
                          names.WAITING_FOR_RATE: 0}
        await cancel(queued)
        await stream.aclose()
        assert otel.point(names.IN_FLIGHT).value == 0
    # A closed client leaves the gauges.
    assert otel.points(names.IN_FLIGHT) == []


async def test_clients_of_one_server_add_up(emulator: Emulator, otel: Telemetry) -> None:
    async with otel.client(emulator, max_concurrency=3), otel.client(
        emulator, max_concurrency=5
    ):
        assert otel.point(names.CONCURRENCY_LIMIT).value == 8


async def test_nothing_recorded_with_telemetry_off(emulator: Emulator, otel: Telemetry) -> None:
    async with otel.client(emulator, telemetry=False) as client:
        await client.chat.completions.create(model=MODEL, messages=user("hello"))
    assert otel.metrics() == {}
    assert otel.spans() == []

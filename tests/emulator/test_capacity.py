"""The emulator's capacity gate (concurrency, requests per minute): as a unit, then over HTTP."""

from __future__ import annotations

import contextlib

import aiohttp

from aiovertexchat.emulator import EmulatorConfig
from aiovertexchat.emulator.capacity import CapacityGate
from tests.helpers import (
    AUTH,
    CHAT,
    chat_body,
    error_of,
    frozen_emulator,
    post,
    read_events,
)


class TestCapacityGate:
    def test_concurrency_limit(self) -> None:
        gate = CapacityGate(lambda: 0.0)
        assert gate.admit(1, 2, None)
        assert not gate.admit(2, 2, None)
        assert gate.admit(10**6, None, None)

    def test_sliding_window(self) -> None:
        now = [1000.0]
        gate = CapacityGate(lambda: now[0])
        assert gate.admit(0, None, 2)
        now[0] += 30
        assert gate.admit(0, None, 2)
        assert not gate.admit(0, None, 2)
        now[0] += 30  # the first admission leaves the window; the refusal never entered it
        assert gate.admit(0, None, 2)
        assert not gate.admit(0, None, 2)


class TestCapacity:
    async def test_concurrency_limit(self, http: aiohttp.ClientSession) -> None:
        # An hour between chunks holds each stream open after its first chunk.
        async with frozen_emulator(EmulatorConfig(max_concurrency=2, itl=3600)) as emu:
            async with contextlib.AsyncExitStack() as streams:
                for _ in range(2):
                    resp = await streams.enter_async_context(
                        http.post(emu.url + CHAT, json=chat_body(stream=True), headers=AUTH)
                    )
                    await read_events(resp, 1)
                assert emu.stats.concurrency == 2
                rejected = await post(http, emu, chat_body(stream=True))
                assert rejected.status == 429
                assert error_of(rejected)["status"] == "RESOURCE_EXHAUSTED"
                assert "Retry-After" not in rejected.headers
            assert emu.stats.rejected_capacity == 1
            assert emu.stats.peak_concurrency == 2
            assert emu.stats.faults == {}

    async def test_a_finished_stream_frees_its_slot(self, http: aiohttp.ClientSession) -> None:
        async with frozen_emulator(EmulatorConfig(max_concurrency=1)) as emu:
            for _ in range(3):
                assert (await post(http, emu, chat_body(stream=True))).status == 200
            assert emu.stats.concurrency == 0 and emu.stats.rejected_capacity == 0

    async def test_rpm_window(self, http: aiohttp.ClientSession) -> None:
        now = [0.0]
        async with frozen_emulator(EmulatorConfig(max_rpm=2), clock=lambda: now[0]) as emu:

            async def status() -> int:
                return (await post(http, emu, chat_body())).status

            assert [await status(), await status(), await status()] == [200, 200, 429]
            now[0] += 59.0
            assert await status() == 429
            now[0] += 1.0
            assert [await status(), await status(), await status()] == [200, 200, 429]
            assert emu.stats.rejected_capacity == 3

"""The emulator's lifecycle: stats, request ids, start/close, serve(), quiet logs."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import pytest

from aiovertexchat.emulator import Emulator, EmulatorConfig, serve
from tests.helpers import (
    AUTH,
    CHAT,
    chat_body,
    fault,
    frozen_emulator,
    post,
    read_events,
)


class TestLifecycle:
    async def test_stats(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        await post(http, emu, chat_body(stream=True, max_tokens=3))
        await post(http, emu, chat_body())
        await post(http, emu, chat_body(), path="/nope")
        await post(http, emu, chat_body(), headers=fault("503"))
        stats = emu.stats
        assert (stats.requests, stats.streamed, stats.chunks) == (4, 1, 3)
        assert stats.by_status == {200: 2, 404: 1, 503: 1}
        assert stats.faults == {"503": 1}
        assert (stats.concurrency, stats.peak_concurrency) == (0, 1)
        stats.reset()
        assert stats.requests == 0 and not stats.by_status

    async def test_request_ids_count_up(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        ids = [(await post(http, emu, chat_body())).headers["x-request-id"] for _ in range(3)]
        assert ids == ["emu-00000001", "emu-00000002", "emu-00000003"]
        assert (await post(http, emu, {}, path="/x")).headers["x-request-id"] == "emu-00000004"

    async def test_start_close_and_urls(self) -> None:
        emu = Emulator(EmulatorConfig())
        with pytest.raises(RuntimeError):
            _ = emu.url
        await emu.start()
        try:
            assert emu.url == f"http://127.0.0.1:{emu.port}" and emu.port > 0
            assert emu.base_url == emu.url + "/v1"
            assert emu.vertex_base_url().endswith(
                "/v1beta1/projects/p/locations/us-central1/endpoints/openapi"
            )
            with pytest.raises(RuntimeError):
                await emu.start()
        finally:
            await emu.close()
        await emu.close()  # closing twice is harmless

    async def test_close_ends_open_streams(self, http: aiohttp.ClientSession) -> None:
        emu = frozen_emulator(EmulatorConfig(itl=3600))
        await emu.start()
        try:
            async with http.post(emu.url + CHAT, json=chat_body(stream=True), headers=AUTH) as resp:
                await read_events(resp, 1)
                await emu.close()
                with pytest.raises(aiohttp.ClientPayloadError):
                    await resp.content.read()
        finally:
            await emu.close()
        assert emu.stats.concurrency == 0 and not emu.state.tasks

    async def test_serve_runs_until_cancelled(self, http: aiohttp.ClientSession) -> None:
        ready: asyncio.Queue[Emulator] = asyncio.Queue()
        task = asyncio.create_task(
            serve("127.0.0.1", 0, EmulatorConfig(), on_ready=ready.put_nowait)
        )
        emu = await ready.get()
        assert (await post(http, emu, chat_body())).status == 200
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def test_faults_log_no_tracebacks(
        self, emu: Emulator, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        specs = [
            "reset-before-headers",
            "reset-mid-stream:after=2",
            "error-in-stream",
            "truncate",
            "malformed-chunk",
            "trickle:bytes=64",
            "html-error",
        ]
        for spec in specs:
            for stream in (True, False):
                with contextlib.suppress(aiohttp.ClientError):
                    await post(http, emu, chat_body(stream=stream), headers=fault(spec))
        # A client that walks away mid-stream.
        async with http.post(
            emu.url + CHAT, json=chat_body("[[tokens=100000]]", stream=True), headers=AUTH
        ) as resp:
            await read_events(resp, 1)
        assert (await post(http, emu, chat_body())).status == 200
        noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
        assert noisy == []

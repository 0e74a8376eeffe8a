"""`--html`: the report opens offline in a real browser (headless Chromium, driven through the
DevTools protocol): no console errors, every chart drawn, and a screenshot that is not blank.

Chromium is Debian's `chromium` (`./dev test` installs it when it is missing and it can). The
test skips without it, unless AIOVERTEXCHAT_REQUIRE_CHROMIUM=1 (set by `.ci/run`) makes that a
failure.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from aiovertexchat.bench import BenchConfig, LengthSpec, Load, Target, Workload, run_bench
from aiovertexchat.bench.html import render_html, write_html
from aiovertexchat.emulator import Emulator, EmulatorConfig
from tests.bench.test_run import LENIENT

BOUND = 60.0  # seconds: a failure limit for each wait on the browser
CHARTS = {"ttft-cdf", "e2e-cdf", "latency-vs-load", "throughput-vs-load", "requests-vs-load",
          "ts-throughput", "ts-ttft", "ts-errors", "ttft-by-turn"}


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("AIOVERTEXCHAT_REQUIRE_CHROMIUM") == "1":
        pytest.fail("chromium is required here (AIOVERTEXCHAT_REQUIRE_CHROMIUM=1) but missing")
    pytest.skip("chromium is not installed (./dev test installs it when run as root)")


class DevTools:
    """A minimal DevTools-protocol client over one page's websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.event_seen = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self.waiting:
                self.waiting.pop(data["id"]).set_result(data)
            elif "method" in data:
                self.events.append(data)
                self.event_seen.set()

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        reply = await asyncio.wait_for(future, BOUND)
        assert "error" not in reply, reply
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def wait_event(self, method: str) -> dict[str, Any]:
        async def find() -> dict[str, Any]:
            while True:
                for event in self.events:
                    if event["method"] == method:
                        return event
                self.event_seen.clear()
                await self.event_seen.wait()

        return await asyncio.wait_for(find(), BOUND)


@asynccontextmanager
async def browser(profile: Path) -> AsyncIterator[DevTools]:
    argv = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--no-default-browser-check", f"--user-data-dir={profile}",
            "--remote-debugging-port=0", "--window-size=1200,1800", "about:blank"]
    process = await asyncio.create_subprocess_exec(*argv, stdin=subprocess.DEVNULL,
                                                   stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.PIPE)
    try:
        assert process.stderr is not None
        endpoint = None
        while endpoint is None:
            line = await asyncio.wait_for(process.stderr.readline(), BOUND)
            if not line:
                raise AssertionError("chromium exited before its DevTools endpoint was up")
            found = re.search(rb"DevTools listening on (ws://[^\s]+)", line)
            if found:
                endpoint = found.group(1).decode()
        port = endpoint.split(":")[2].split("/")[0]
        drain = asyncio.create_task(process.stderr.read())  # keep its pipe from filling
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                pages = [t for t in await response.json() if t["type"] == "page"]
            async with http.ws_connect(pages[0]["webSocketDebuggerUrl"],
                                       max_msg_size=0) as ws:
                tools = DevTools(ws)
                try:
                    yield tools
                finally:
                    tools.reader.cancel()
                    await asyncio.gather(tools.reader, return_exceptions=True)
        drain.cancel()
        await asyncio.gather(drain, return_exceptions=True)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def _report(tmp_path: Path) -> Path:
    async with Emulator(EmulatorConfig(ttft=0.01, itl=0.002, seed=1)) as emu:
        result = await run_bench(BenchConfig(
            targets=[Target("emu", emu.base_url, api_key="k")],
            loads=[Load.concurrency(1), Load.concurrency(4)], requests=12, thresholds=LENIENT,
            workload=Workload(prompt_tokens=LengthSpec(8), max_tokens=6, turns=2),
        ))
    path = tmp_path / "report.html"
    write_html(result, path)
    return path


def _pixels(png: bytes) -> tuple[int, set[tuple[int, int, int]]]:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colors = image.getcolors(maxcolors=1 << 24) or []
    non_white = sum(count for count, rgb in colors if rgb != (255, 255, 255))
    return non_white, {rgb for _, rgb in colors}


async def test_the_report_renders_in_chromium(tmp_path: Path) -> None:
    report = await _report(tmp_path)
    text = report.read_text()
    # Self-contained: nothing to fetch (no script, stylesheet, image or font from anywhere).
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", text)
    pass
    async with browser(tmp_path / "profile") as page:
        for domain in ("Runtime", "Log", "Page"):
            await page.call(f"{domain}.enable")
        await page.call("Page.navigate", url=report.as_uri())
        await page.wait_event("Page.loadEventFired")
        probe = await page.call("Runtime.evaluate", returnByValue=True, expression="""
            JSON.stringify(Array.from(document.querySelectorAll('svg.chart')).map(svg => ({
                id: svg.id,
                series: Array.from(svg.querySelectorAll('path.series')).map(
                    p => p.getAttribute('d').split(/[ML]/).length - 1),
                width: svg.getBoundingClientRect().width})))""")
        charts = json.loads(probe["result"]["value"])
        tables = await page.call("Runtime.evaluate", returnByValue=True,
                                 expression="document.querySelectorAll('table').length")
        shot = await page.call("Page.captureScreenshot", format="png")
        errors = [e for e in page.events if
                  (e["method"] == "Runtime.consoleAPICalled"
                   and e["params"]["type"] in ("error", "assert"))
                  or e["method"] == "Runtime.exceptionThrown"
                  or (e["method"] == "Log.entryAdded"
                      and e["params"]["entry"]["level"] == "error")]
    assert errors == []
    by_id = {c["id"]: c for c in charts}
    assert set(by_id) >= CHARTS
    for chart_id in CHARTS:
        chart = by_id[chart_id]
        assert chart["width"] > 100
        assert len(chart["series"]) >= 1 and all(points >= 1 for points in chart["series"])
    assert len(by_id["ttft-cdf"]["series"]) == 2  # one curve per load point
    assert by_id["ttft-cdf"]["series"][0] >= 12  # a step per request (12 or 24 turns)
    assert tables["result"]["value"] >= 5
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    non_white, colors = _pixels(png)
    assert non_white > 50_000  # charts, text and tables, not a blank page
    assert (0x1F, 0x77, 0xB4) in colors and (0xD6, 0x27, 0x28) in colors  # two series drawn


def test_an_empty_result_still_renders() -> None:
    from aiovertexchat.bench.suite import BenchResult

    config = BenchConfig(targets=[Target("t", "http://127.0.0.1:1/v1")])
    page = render_html(BenchResult(config, [], [], 0.0, interrupted="SIGINT"))
    assert "INTERRUPTED by SIGINT" in page and page.count('class="chart"') >= 5
    assert "no data" in page

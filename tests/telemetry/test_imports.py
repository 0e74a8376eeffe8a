"""Zero cost when off: with `telemetry=False`, or without `opentelemetry-api` installed, a client
that made plain and streamed calls has imported nothing of `opentelemetry`. Each case runs in a
fresh interpreter, where `sys.modules` shows exactly what the client imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r'''
import asyncio, importlib.abc, json, sys

if MODE == "missing":
    class NoOpenTelemetry(importlib.abc.MetaPathFinder):
        """Behaves as if opentelemetry-api were not installed."""
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, NoOpenTelemetry())

from aiovertexchat import AsyncVertexChat
from aiovertexchat.emulator import Emulator, EmulatorConfig

async def main():
    async with Emulator(EmulatorConfig()) as emu:
        async with AsyncVertexChat(base_url=emu.base_url, api_key="k",
                                   telemetry=(MODE != "off")) as client:
            messages = [{"role": "user", "content": "hello"}]
            await client.chat.completions.create(model="m", messages=messages)
            stream = await client.chat.completions.create(model="m", messages=messages,
                                                          stream=True)
            chunks = [chunk async for chunk in stream]
            observer = client._dispatcher.observer
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
    print(json.dumps({"chunks": len(chunks), "observer": observer is not None,
                      "loaded": loaded}))

asyncio.run(main())
'''


def run(mode: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", f"MODE = {mode!r}\n" + SCRIPT],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("mode", ["off", "missing"])
def test_nothing_of_opentelemetry_is_imported(mode: str) -> None:
    result = run(mode)
    assert result["chunks"] and result["observer"] is False
    assert result["loaded"] == []


def test_the_check_sees_an_import_when_telemetry_is_on() -> None:
    result = run("on")
    assert result["observer"] is True
    assert "opentelemetry.trace" in result["loaded"]  # type: ignore[operator]

import asyncio
import subprocess
import sys

import pytest

from aiovertexchat.cli.commands import main
from aiovertexchat.emulator import Emulator


def test_chat_streams_answer_from_in_process_emulator(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "hello", "--emulator", "--max-tokens", "4",
                 "--emulator-ttft", "0s", "--emulator-itl", "0s"]) == 0
    streamed = capsys.readouterr().out.strip()
    assert main(["chat", "hello", "--emulator", "--max-tokens", "4", "--no-stream",
                 "--emulator-ttft", "0s", "--emulator-itl", "0s"]) == 0
    assert capsys.readouterr().out.strip() == streamed
    assert len(streamed.split()) == 4


def test_chat_against_base_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")

    async def run() -> int:
        async with Emulator() as emu:
            # main() runs its own event loop, so it goes to a thread beside the emulator's.
            return await asyncio.to_thread(
                main, ["chat", "hi", "--base-url", emu.base_url, "--max-tokens", "3"]
            )

    assert asyncio.run(run()) == 0
    assert len(capsys.readouterr().out.split()) == 3


def test_chat_error_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "hi", "--base-url", "http://127.0.0.1:9/v1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: POST http://127.0.0.1:9/v1/chat/completions")


def test_demo_prints_latency_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--requests", "20", "--concurrency", "4",
                 "--emulator-ttft", "0s", "--emulator-itl", "0s"]) == 0
    out = capsys.readouterr().out
    assert "20 requests in" in out
    assert "TTFT: p50" in out and "end-to-end: p50" in out
    assert "completion tokens" in out


def test_emulator_subcommand_prints_its_url() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiovertexchat", "emulator", "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("emulator listening; base URL: http://127.0.0.1:")
        assert line.rstrip().endswith("/v1")
        assert ":0/" not in line
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()

"""The network flags of the CLIs (README "Security"): --proxy, --ca-bundle, --insecure.

Each CLI runs in a thread (it calls asyncio.run) against the emulator behind a TLS front with a
test CA, through a counting forward proxy.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aiovertexchat.bench.suite import EMULATOR, Target, _make_client
from aiovertexchat.cli import main
from aiovertexchat.emulator import Emulator, EmulatorConfig

from .netkit import PKI, ForwardProxy, TLSFront


@pytest.fixture
async def open_front(pki: PKI) -> AsyncIterator[TLSFront]:
    """An emulator that takes any token, over https."""
    async with Emulator(EmulatorConfig(ttft=0, itl=0)) as emu, TLSFront(pki, emu.port) as front:
        yield front


async def run(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_chat_takes_a_proxy_and_a_ca_bundle(
    open_front: TLSFront, proxy: ForwardProxy, pki: PKI, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "cli-token-0123456789")
    base = f"{open_front.url}/v1"
    assert await run("chat", "hello", "--base-url", base, "--max-tokens", "3") == 1
    assert "certificate" in capsys.readouterr().err.lower()  # verified by default
    assert await run("chat", "hello", "--base-url", base, "--max-tokens", "3",
                     "--ca-bundle", str(pki.ca_file), "--proxy", proxy.url) == 0
    assert capsys.readouterr().out.strip()
    assert proxy.tunnels == {f"127.0.0.1:{open_front.port}": 1}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert await run("chat", "hello", "--base-url", base, "--max-tokens", "3",
                         "--insecure") == 0
    assert any("verification is OFF" in str(w.message) for w in caught)


async def test_batch_takes_a_proxy_and_a_ca_bundle(
    open_front: TLSFront, proxy: ForwardProxy, pki: PKI, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "cli-token-0123456789")
    source = tmp_path / "in.jsonl"
    source.write_text("".join(
        json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                    "body": {"model": "m", "max_tokens": 3,
                             "messages": [{"role": "user", "content": f"hi {i}"}]}}) + "\n"
        for i in range(3)
    ))
    out = tmp_path / "out.jsonl"
    assert await run("batch", str(source), "-o", str(out), "--base-url",
                     f"{open_front.url}/v1", "--ca-bundle", str(pki.ca_file),
                     "--proxy", proxy.url, "--quiet") == 0
    assert len(out.read_text().splitlines()) == 3
    assert proxy.requests >= 1


async def test_bench_takes_a_proxy_and_a_ca_bundle_for_its_targets(
    open_front: TLSFront, proxy: ForwardProxy, pki: PKI, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "cli-token-0123456789")
    assert await run("bench", "--base-url", f"{open_front.url}/v1", "--model", "m",
                     "--requests", "2", "--max-tokens", "3", "--prompt-tokens", "4",
                     "--ca-bundle", str(pki.ca_file), "--proxy", proxy.url) == 0
    assert proxy.requests >= 1
    capsys.readouterr()


def test_ca_bundle_and_insecure_exclude_each_other() -> None:
    for command in (["chat", "hi"], ["batch", "in.jsonl", "-o", "out.jsonl"], ["bench"]):
        with pytest.raises(SystemExit) as info:
            main([*command, "--ca-bundle", "ca.pem", "--insecure"])
        assert info.value.code == 2


def test_the_embedded_emulator_is_never_reached_through_a_proxy() -> None:
    client = _make_client(Target(EMULATOR), "http://127.0.0.1:9/v1", 1)
    assert client._transport._network.proxy_for("http://127.0.0.1:9/v1") is None
    assert client._transport._network.trust_env is False

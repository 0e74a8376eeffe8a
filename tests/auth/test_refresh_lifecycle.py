"""GoogleAuth's background refresh ends with the client on every Python from 3.10 to 3.13.

The case that hung: a token was obtained, then the token endpoint went down. A request waits
for a refresh, the refresh fails, the request raises `TokenRefreshError`, and leaving
`async with AsyncVertexChat(...)` closes the auth. On Python 3.10 and 3.11 the background loop
used `asyncio.wait_for`, which loses a cancellation that arrives as the awaited event fires (the
failed fetch sets it): the loop went on refreshing, `aclose()` waited for it forever and the
error never reached the caller (17 runs in 20 hung before the fix).

Run this file on the oldest and newest supported Pythons: the failure is version-specific.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import pytest

import aiovertexchat._auth.google as google_module
from aiovertexchat import AsyncVertexChat, GoogleAuth, TokenRefreshError
from aiovertexchat._auth.google_blocking import Fresh
from aiovertexchat.emulator import Emulator, EmulatorConfig

MODEL = "google/gemini-2.5-flash"
HELLO = [{"role": "user", "content": "hi"}]
T = TypeVar("T")


async def bounded(awaitable: Awaitable[T], seconds: float = 30.0) -> T:
    """A hang detector, not a speed check: fail the test instead of hanging it."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        pytest.fail(f"still running after {seconds} s: closing the client hung")
    return task.result()


class DownAfterFirstToken(GoogleAuth):
    """The token endpoint answers once, with a token that is already too old to send, and is
    down from then on."""

    def __init__(self) -> None:
        super().__init__()
        self.fetches = 0

    def _blocking_fetch(self) -> Fresh:
        self.fetches += 1
        if self.fetches == 1:
            now = time.monotonic()
            return Fresh({"Authorization": "Bearer first"}, now, now)
        raise TokenRefreshError("the token endpoint is down")


def our_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("aiovertexchat-")]


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig()) as emu:
        yield emu


async def _refresh_fails_after_expiry(emulator: Emulator) -> DownAfterFirstToken:
    auth = DownAfterFirstToken()
    with pytest.raises(TokenRefreshError, match="token endpoint is down"):
        async with AsyncVertexChat(base_url=emulator.base_url, auth=auth) as client:
            await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)
            await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)
    return auth


async def test_a_failed_refresh_after_expiry_reaches_the_caller(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="aiovertexchat.auth")  # hundreds of retries
    # The race is a matter of callback order, so it is run many times over.
    for _ in range(20):
        auth = await bounded(_refresh_fails_after_expiry(emulator))
        assert auth.fetches >= 2
        assert our_tasks() == []  # the background loop and any fetch are gone
        assert auth._pool is None


async def test_the_background_loop_stops_on_closure_without_a_cancellation() -> None:
    auth = GoogleAuth()
    auth._schedule.on_success(time.monotonic(), time.monotonic() + 3600)  # nothing due
    await auth.start()
    task = auth._task
    assert task is not None
    await asyncio.sleep(0)  # the loop is waiting for its next refresh
    # Closure as a cancellation-free signal: even a lost cancellation cannot keep it going.
    auth._closed = True
    auth._wake.set()
    await bounded(task)
    assert task.done() and not task.cancelled()
    await auth.aclose()


async def test_aclose_is_bounded_even_if_a_task_ignores_cancellation(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(google_module, "_CLOSE_POLL", 0.01)
    monkeypatch.setattr(google_module, "_CLOSE_LIMIT", 0.2)
    stop = asyncio.Event()
    cancellations = 0

    async def stubborn() -> None:
        nonlocal cancellations
        while not stop.is_set():
            try:
                await stop.wait()
            except asyncio.CancelledError:
                cancellations += 1  # swallowed, as a lost cancellation would be

    auth = GoogleAuth()
    rogue = asyncio.get_running_loop().create_task(stubborn())
    auth._inflight = rogue  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, logger="aiovertexchat.auth"):
        await bounded(auth.aclose())
    assert cancellations > 1  # cancelled again and again, not once
    assert "abandoned" in caplog.text
    stop.set()
    await rogue


async def test_aclose_ends_a_loop_waiting_out_a_backoff(emulator: Emulator) -> None:
    # The loop sleeps between failed refreshes; closing must not wait for the backoff.
    auth = DownAfterFirstToken()
    async with AsyncVertexChat(base_url=emulator.base_url, auth=auth) as client:
        await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)
        auth._schedule.refresh_at = time.monotonic() + 3600
        auth._wake.set()
        await asyncio.sleep(0)
    assert our_tasks() == []

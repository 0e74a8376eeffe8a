"""Fixtures shared by every test folder (plain helpers are in tests/helpers.py)."""

from collections.abc import AsyncIterator

import pytest

from aiovertexchat import AsyncVertexChat
from aiovertexchat.emulator import Emulator, EmulatorConfig
from tests.helpers import FAST


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """An emulator with the default settings, on a free loopback port."""
    async with Emulator(EmulatorConfig()) as emu:
        yield emu


@pytest.fixture
async def held_emulator() -> AsyncIterator[Emulator]:
    """An emulator that sends a stream's first chunk at once, then holds it open (30 s between
    chunks): for tests that need a call parked mid-stream."""
    async with Emulator(EmulatorConfig(ttft=0.0, itl=30.0)) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncVertexChat]:
    """A client of `emulator` with millisecond backoff (retries behave as shipped, tests stay
    quick)."""
    async with AsyncVertexChat(
        base_url=emulator.base_url, api_key="test-token", retry=FAST
    ) as chat:
        yield chat
    # Every test that used the client must have given every connection back.
    assert chat.connections_in_use == 0

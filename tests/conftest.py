from collections.abc import AsyncIterator

import pytest

from aiovertexchat import AsyncVertexChat
from aiovertexchat._reliability.retry import RetryPolicy
from aiovertexchat.emulator import Emulator, EmulatorConfig


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig()) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncVertexChat]:
    # The default policy with millisecond backoff: retries behave as shipped, tests stay quick.
    fast = RetryPolicy(base=0.001, cap=0.01)
    async with AsyncVertexChat(
        base_url=emulator.base_url, api_key="test-token", retry=fast
    ) as chat:
        yield chat
    # Every test that used the client must have given every connection back.
    assert chat.connections_in_use == 0

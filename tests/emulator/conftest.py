"""Fixtures of the emulator's own tests: a raw HTTP session, a frozen-clock emulator, and the
official `openai` SDK pointed at the emulator."""

from collections.abc import AsyncIterator

import aiohttp
import openai
import pytest

from aiovertexchat.emulator import Emulator
from tests.helpers import frozen_emulator


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """An emulator with default settings whose wall clock stands still (see frozen_emulator)."""
    async with frozen_emulator() as emulator:
        yield emulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session: the emulator seen without our client in between."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def sdk(emulator: Emulator) -> AsyncIterator[openai.AsyncOpenAI]:
    """The `openai` SDK on the emulator's OpenAI-style path, without SDK retries."""
    async with openai.AsyncOpenAI(
        base_url=emulator.base_url, api_key="test", max_retries=0
    ) as client:
        yield client


@pytest.fixture
async def sdk_vertex(emulator: Emulator) -> AsyncIterator[openai.AsyncOpenAI]:
    """The `openai` SDK on the emulator's managed Vertex path, without SDK retries."""
    async with openai.AsyncOpenAI(
        base_url=emulator.vertex_base_url(), api_key="test", max_retries=0
    ) as client:
        yield client

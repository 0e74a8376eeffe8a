"""The client's public surface end to end against the emulator, over real loopback sockets: a
plain completion, arguments refused before sending, the Vertex paths, a closed client.

Streams, the attempt loop and the transport are in tests/http/, token sources in tests/auth/,
every fault's outcome in test_fault_outcomes.py.
"""

import asyncio

import pytest

from aiovertexchat import AsyncVertexChat, ChatCompletion
from aiovertexchat.emulator import Emulator
from tests.helpers import HELLO, MODEL


async def test_non_streaming_completion(client: AsyncVertexChat) -> None:
    completion = await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=5)
    assert isinstance(completion, ChatCompletion)
    choice = completion.choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.role == "assistant"
    assert choice.message.content is not None and len(choice.message.content.split()) == 5
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 3
    assert completion.usage.completion_tokens == 5
    assert completion.usage.total_tokens == 8
    assert completion.model == MODEL
    assert completion.request_id
    assert completion.response_headers.get("Content-Type", "").startswith("application/json")


def test_unknown_keyword_is_refused_before_sending() -> None:
    async def run() -> None:
        async with AsyncVertexChat(base_url="http://127.0.0.1:9/v1", api_key="k") as client:
            with pytest.raises(TypeError, match="did you mean 'max_tokens'"):
                await client.chat.completions.create(  # type: ignore[call-overload]
                    model=MODEL, messages=HELLO, max_token=5
                )
            assert client.connections_in_use == 0

    asyncio.run(run())


async def test_managed_endpoint_requires_publisher_prefix() -> None:
    async with AsyncVertexChat(project="my-project", location="us-central1", api_key="k") as client:
        with pytest.raises(ValueError, match=r"google/gemini-2\.5-flash"):
            await client.chat.completions.create(model="gemini-2.5-flash", messages=HELLO)


async def test_vertex_path_on_emulator(emulator: Emulator) -> None:
    base = f"{emulator.url}/v1beta1/projects/my-project/locations/us-central1/endpoints/openapi"
    async with AsyncVertexChat(base_url=base, api_key="k") as client:
        completion = await client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)
        assert completion.choices[0].finish_reason == "length"


async def test_closed_client_refuses_requests(emulator: Emulator) -> None:
    client = AsyncVertexChat(base_url=emulator.base_url, api_key="k")
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.chat.completions.create(model=MODEL, messages=HELLO)

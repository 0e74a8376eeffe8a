"""2xx answers we cannot read, and answers past a size limit: typed, kept, never re-sent.

The server already did (and billed) the work, so the call ends with the one attempt; the error
keeps the real status and a bounded excerpt of what arrived.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp.web
import pytest

from aiovertexchat import (
    APIResponseValidationError,
    AsyncVertexChat,
    FailureKind,
    ResponseTooLargeError,
    SizeLimits,
    StreamInterruptedError,
    classify_failure,
)
from aiovertexchat._reliability.retry import RetryPolicy
from aiovertexchat.emulator import Emulator
from tests.helpers import CountingServer

MODEL = "some-model"
HELLO = [{"role": "user", "content": "hello"}]
FAST = RetryPolicy(base=0.001, cap=0.01)
Handler = Callable[[aiohttp.web.Request], Awaitable[aiohttp.web.StreamResponse]]




def body_reply(body: bytes) -> Handler:
    async def handler(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(body=body, content_type="application/json")

    return handler


def sse_reply(*events: bytes) -> Handler:
    async def handler(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in events:
            await response.write(event)
        await response.write_eof()
        return response

    return handler


def chunk(text: str) -> bytes:
    return (
        b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",'
        b'"choices":[{"index":0,"delta":{"content":"' + text.encode() + b'"}}]}\n\n'
    )


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[[str], AsyncVertexChat]]:
    clients: list[AsyncVertexChat] = []

    def make(base_url: str) -> AsyncVertexChat:
        client = AsyncVertexChat(base_url=base_url, api_key="k", retry=FAST)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
        assert client.connections_in_use == 0


async def test_a_2xx_body_that_is_not_json_is_final_and_keeps_status_200(
    make_client: Callable[[str], AsyncVertexChat],
) -> None:
    async with CountingServer(body_reply(b'{"id": "x", "choices": [')) as server:
        client = make_client(server.base_url)
        with pytest.raises(APIResponseValidationError) as info:
            await client.chat.completions.create(model=MODEL, messages=HELLO)
    error = info.value
    assert server.requests == 1  # never re-sent
    assert error.status_code == 200
    assert error.path is None
    assert error.body == '{"id": "x", "choices": ['
    assert "not valid JSON" in error.message and "HTTP 200" in error.message
    assert "502" not in str(error)
    assert client.stats.retries == {} and client.stats.failures == 1
    assert classify_failure(error).kind is FailureKind.UNEXPECTED_RESPONSE


async def test_a_2xx_body_of_the_wrong_shape_names_the_json_path(
    make_client: Callable[[str], AsyncVertexChat],
) -> None:
    body = b'{"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": 7}'
    async with CountingServer(body_reply(body)) as server:
        client = make_client(server.base_url)
        with pytest.raises(APIResponseValidationError) as info:
            await client.chat.completions.create(model=MODEL, messages=HELLO)
    assert server.requests == 1
    assert info.value.path == "$.choices"
    assert "valid JSON, unexpected shape at $.choices" in info.value.message


async def test_a_huge_unreadable_body_is_quoted_only_in_part(
    make_client: Callable[[str], AsyncVertexChat],
) -> None:
    async with CountingServer(body_reply(b"x" * 100_000)) as server:
        client = make_client(server.base_url)
        with pytest.raises(APIResponseValidationError) as info:
            await client.chat.completions.create(model=MODEL, messages=HELLO)
    assert len(info.value.body) == 501 and info.value.body.endswith("…")
    assert len(str(info.value)) < 2_000


async def test_an_unreadable_first_chunk_is_not_retried(
    make_client: Callable[[str], AsyncVertexChat],
) -> None:
    async with CountingServer(sse_reply(b"data: {not json\n\n")) as server:
        client = make_client(server.base_url)
        stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        with pytest.raises(StreamInterruptedError, match="not valid JSON") as info:
            async for _ in stream:
                pass
    assert server.requests == 1  # before this, a broken first chunk re-sent the request
    assert stream.restarts == 0
    assert isinstance(info.value.cause, APIResponseValidationError)
    assert info.value.cause.status_code == 200
    assert classify_failure(info.value).kind is FailureKind.UNEXPECTED_RESPONSE


async def test_an_event_past_the_size_limit_is_typed_with_what_arrived(
    make_client: Callable[[str], AsyncVertexChat],
) -> None:
    huge = b"data: " + b"y" * (SizeLimits().event + 10)  # past the default event ceiling
    async with CountingServer(sse_reply(chunk("Hello"), chunk(" world"), huge)) as server:
        client = make_client(server.base_url)
        stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        received = []
        with pytest.raises(ResponseTooLargeError) as info:
            async for piece in stream:
                received.append(piece.choices[0].delta.content)
    assert server.requests == 1
    assert received == ["Hello", " world"]
    error = info.value
    assert error.limit_name == "event" and error.limit == SizeLimits().event == 1024 * 1024
    assert error.partial is not None and error.partial.choices[0].message.content == "Hello world"
    assert classify_failure(error).kind is FailureKind.TOO_LARGE


async def test_malformed_non_streamed_answer_from_the_emulator_is_sent_once(
    emulator: Emulator,
) -> None:
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k", retry=FAST) as client:
        with pytest.raises(APIResponseValidationError):
            await client.chat.completions.create(
                model="google/gemini-2.5-flash", messages=HELLO,
                extra_headers={"X-Emulator-Fault": "malformed-chunk"},
            )
        assert emulator.stats.faults == {"malformed-chunk": 1}
        assert client.connections_in_use == 0

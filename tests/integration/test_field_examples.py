"""Issue 12's failing inputs, byte for byte as other servers send them, through the library.

Each server here is a loopback aiohttp app answering one canned body or stream, counting requests
(a billed answer must never be re-sent).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp.web
import pytest

from aiovertexchat import (
    AsyncVertexChat,
    BadRequestError,
    NotFoundError,
    StreamInterruptedError,
    UnprocessableEntityError,
)
from aiovertexchat._reliability.retry import RetryPolicy
from tests.helpers import CountingServer

MODEL = "m"
HELLO = [{"role": "user", "content": "hello"}]
FAST = RetryPolicy(base=0.001, cap=0.01)
Handler = Callable[[aiohttp.web.Request], Awaitable[aiohttp.web.StreamResponse]]




def body(raw: bytes, status: int = 200) -> Handler:
    async def handler(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.Response(status=status, body=raw, content_type="application/json")

    return handler


def events(*raw: bytes) -> Handler:
    async def handler(request: aiohttp.web.Request) -> aiohttp.web.StreamResponse:
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in raw:
            await response.write(event)
        await response.write_eof()
        return response

    return handler


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


# -- A ---------------------------------------------------------------------------------------------
async def test_a_object_arguments_are_an_answer_sent_once(
    make_client: Callable[[str], AsyncVertexChat],
) -> None:
    raw = (b'{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":'
           b'[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":'
           b'null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":'
           b'"get_weather","arguments":{"city":"Paris","days":2}}}]}}]}')
    async with CountingServer(body(raw)) as server:
        client = make_client(server.base_url)
        result = await client.chat.completions.create(model=MODEL, messages=HELLO)
    call = (result.choices[0].message.tool_calls or [])[0]
    assert call.function.arguments == '{"city":"Paris","days":2}'
    assert server.requests == 1 and client.stats.failures == 0


async def test_a_gemini_nulls_are_an_answer_sent_once(
    make_client: Callable[[str], AsyncVertexChat],
) -> None:
    raw = (b'{"id":null,"choices":null,"created":1743682890,"model":"gemini-2.5-pro",'
           b'"object":"chat.completion","usage":{"completion_tokens":0,"prompt_tokens":1396,'
           b'"total_tokens":1396}}')
    async with CountingServer(body(raw)) as server:
        client = make_client(server.base_url)
        result = await client.chat.completions.create(model=MODEL, messages=HELLO)
    assert result.choices == [] and result.usage is not None
    assert result.usage.prompt_tokens == 1396
    assert server.requests == 1 and client.stats.retries == {}


# -- B ---------------------------------------------------------------------------------------------
async def test_b_two_calls_at_index_0(make_client: Callable[[str], AsyncVertexChat]) -> None:
    def call(call_id: str, city: str) -> bytes:
        return (b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
                b'"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"'
                + call_id.encode() + b'","type":"function","function":{"name":"get_weather",'
                b'"arguments":"{\\"city\\": \\"' + city.encode() + b'\\"}"}}]},'
                b'"finish_reason":null}]}\n\n')

    async with CountingServer(events(
        call("call_aa11", "Paris"), call("call_bb22", "Rome"),
        b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\n\n',
        b"data: [DONE]\n\n",
    )) as server:
        client = make_client(server.base_url)
        stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        async for _ in stream:
            pass
    calls = stream.completion.choices[0].message.tool_calls or []
    assert [(c.id, c.function.arguments) for c in calls] == [
        ("call_aa11", '{"city": "Paris"}'), ("call_bb22", '{"city": "Rome"}'),
    ]


# -- C ---------------------------------------------------------------------------------------------
async def test_c_reasoning_content_everywhere(
    make_client: Callable[[str], AsyncVertexChat],
) -> None:
    stream_events = [
        b'data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant",'
        b'"reasoning_content":"Two plus two"}}]}\n\n',
        b'data: {"id":"c","choices":[{"index":0,"delta":{"reasoning_content":" is four."}}]}\n\n',
        b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"4"},"finish_reason":"stop"}]}'
        b"\n\n",
        b"data: [DONE]\n\n",
    ]
    async with CountingServer(events(*stream_events)) as server:
        client = make_client(server.base_url)
        stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        deltas = [chunk.choices[0].delta.reasoning async for chunk in stream]
    assert deltas == ["Two plus two", " is four.", None]
    assert stream.completion.choices[0].message.reasoning == "Two plus two is four."
    assert stream.metrics.first_reasoning_at is not None
    assert stream.metrics.time_to_first_reasoning is not None

    raw = (b'{"id":"c","choices":[{"index":0,"finish_reason":"stop","message":{"role":'
           b'"assistant","content":"4","reasoning_content":"Two plus two is four."}}]}')
    async with CountingServer(body(raw)) as server:
        client = make_client(server.base_url)
        result = await client.chat.completions.create(model=MODEL, messages=HELLO)
    assert result.choices[0].message.reasoning == "Two plus two is four."


# -- D ---------------------------------------------------------------------------------------------
async def test_d_error_event_in_a_200_stream(
    make_client: Callable[[str], AsyncVertexChat],
) -> None:
    async with CountingServer(events(
        b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n',
        b'event: error\ndata: {"code": 400, "details": "max_new_tokens must be > 0"}\n\n',
    )) as server:
        client = make_client(server.base_url)
        stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        with pytest.raises(BadRequestError) as info:
            async for _ in stream:
                pass
    error = info.value
    assert "max_new_tokens must be > 0" in error.message
    assert "inside its HTTP 200 stream" in error.message
    assert "no error message" not in error.message
    assert error.partial is not None and error.partial.choices[0].message.content == "Hi"
    assert server.requests == 1


async def test_d_tgi_error_data_in_a_200_stream(
    make_client: Callable[[str], AsyncVertexChat],
) -> None:
    async with CountingServer(events(
        b'data: {"error":"Input validation error: `inputs` tokens + `max_new_tokens` must be '
        b'<= 2048","error_type":"validation"}\n\n',
        b"data: [DONE]\n\n",
    )) as server:
        client = make_client(server.base_url)
        stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        with pytest.raises(UnprocessableEntityError, match="Input validation error"):
            async for _ in stream:
                pass
    assert server.requests == 1


async def test_d_fastapi_404(make_client: Callable[[str], AsyncVertexChat]) -> None:
    async with CountingServer(body(b'{"detail":"Not Found"}', status=404)) as server:
        client = make_client(server.base_url)
        with pytest.raises(NotFoundError) as info:
            await client.chat.completions.create(model=MODEL, messages=HELLO)
    assert "HTTP 404: Not Found" in info.value.message
    assert "no error message" not in info.value.message


# -- E ---------------------------------------------------------------------------------------------
def ollama_chunk(text: str, finish: str = "") -> bytes:
    return (b'data: {"id":"chatcmpl-693","object":"chat.completion.chunk","created":1715427619,'
            b'"model":"mistral:latest","system_fingerprint":"fp_ollama","choices":[{"index":0,'
            b'"delta":{"role":"assistant","content":"' + text.encode() + b'"},"finish_reason":"'
            + finish.encode() + b'"}]}\n\n')


async def test_e_empty_finish_reasons_and_a_cut_off_body(
    make_client: Callable[[str], AsyncVertexChat],
) -> None:
    async with CountingServer(events(ollama_chunk(" Hello"), ollama_chunk(" there"))) as server:
        client = make_client(server.base_url)
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, stream=True, retry=RetryPolicy.never()
        )
        with pytest.raises(StreamInterruptedError, match="before a finish reason"):
            async for chunk in stream:
                assert chunk.choices[0].finish_reason is None
    assert not stream.finished
    assert stream.completion.choices[0].message.content == " Hello there"


async def test_e_empty_finish_reasons_then_a_real_one(
    make_client: Callable[[str], AsyncVertexChat],
) -> None:
    async with CountingServer(events(ollama_chunk(" Hello"), ollama_chunk("!", "stop"))) as server:
        client = make_client(server.base_url)
        stream = await client.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
        finishes = [chunk.choices[0].finish_reason async for chunk in stream]
    assert finishes == [None, "stop"] and stream.finished


async def test_e_the_thought_splitter_holds_a_split_tag_until_the_real_finish(
    make_client: Callable[[str], AsyncVertexChat],
) -> None:
    # A tag cut across chunks is held back; "" must not flush it as answer text.
    async with CountingServer(events(
        ollama_chunk("<thi"), ollama_chunk("nk>plan</think>"), ollama_chunk("answer", "stop"),
    )) as server:
        client = make_client(server.base_url)
        stream = await client.chat.completions.create(
            model=MODEL, messages=HELLO, stream=True, google={"thought_tag_marker": "think"}
        )
        async for _ in stream:
            pass
    message = stream.completion.choices[0].message
    assert (message.content, message.reasoning) == ("answer", "plan")

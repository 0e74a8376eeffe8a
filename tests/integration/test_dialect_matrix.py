"""The client against every server dialect the emulator plays (issue 12).

Each test runs once per dialect (`aiovertexchat.emulator.dialects.DIALECTS`) and asserts the same
client-level outcome: the caller reads one contract whatever the server's quirks. Where a server
really answers differently (OpenAI and TGI send no reasoning text), the test says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from aiovertexchat import (
    APIStatusError,
    AsyncVertexChat,
    BadRequestError,
    NotFoundError,
    StreamInterruptedError,
    UnprocessableEntityError,
)
from aiovertexchat._reliability.retry import RetryPolicy
from aiovertexchat.emulator import Emulator, EmulatorConfig
from aiovertexchat.emulator.dialects import DIALECTS

NAMES = sorted(DIALECTS)
MODEL = "qwen3-8b"
FAST = RetryPolicy(base=0.001, cap=0.01)
ONCE = RetryPolicy.never()
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city", "days"]}}}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {
    "type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}}
SHOWS_REASONING = {name for name, d in DIALECTS.items() if d.reasoning != "hidden"}


@pytest.fixture(params=NAMES)
async def dialect(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def emulator(dialect: str) -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(dialect=dialect)) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncVertexChat]:
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k", retry=FAST) as chat:
        yield chat
    assert chat.connections_in_use == 0


def ask(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def thinking(dialect: str) -> dict[str, Any]:
    """How a caller asks this server to think (and show it)."""
    if dialect == "gemini":
        return {"google": {"thinking_config": {"include_thoughts": True, "thinking_budget": 4}}}
    return {"reasoning_effort": "low"}


async def test_streamed_text_is_the_whole_answer(client: AsyncVertexChat, dialect: str) -> None:
    messages = ask("tell me [[tokens=12]]")
    whole = await client.chat.completions.create(model=MODEL, messages=messages)
    stream = await client.chat.completions.create(model=MODEL, messages=messages, stream=True)
    texts, finishes = [], []
    async for chunk in stream:
        for choice in chunk.choices:
            texts.append(choice.delta.content or "")
            finishes.append(choice.finish_reason)
    assert stream.finished
    assert "".join(texts) == whole.choices[0].message.content
    assert len((whole.choices[0].message.content or "").split()) == 12
    # "" on every chunk (Ollama, SGLang) reaches the caller as None: one finish, at the end.
    assert finishes[-1] == "stop" and set(finishes[:-1]) <= {None}
    assert stream.completion.choices[0].finish_reason == whole.choices[0].finish_reason == "stop"
    assert stream.completion.choices[0].message.role == "assistant"
    assert stream.metrics.first_content_at is not None


async def test_tool_calls_streamed_and_whole_agree(client: AsyncVertexChat, dialect: str) -> None:
    messages = ask("call get_weather and get_time")
    whole = await client.chat.completions.create(
        model=MODEL, messages=messages, tools=[WEATHER, TIME]
    )
    stream = await client.chat.completions.create(
        model=MODEL, messages=messages, tools=[WEATHER, TIME], stream=True
    )
    async for _ in stream:
        pass
    streamed = stream.completion.choices[0]
    for choice in (whole.choices[0], streamed):
        assert choice.finish_reason == "tool_calls"
        calls = choice.message.tool_calls or []
        assert [c.function.name for c in calls] == ["get_weather", "get_time"]
        ids = [c.id for c in calls]
        assert all(ids) and len(set(ids)) == 2
    # Arguments are JSON text whatever the server sent (llama.cpp and TGI send objects).
    assert [c.function.arguments for c in streamed.message.tool_calls or []] == [
        c.function.arguments for c in whole.choices[0].message.tool_calls or []
    ]
    assert all(isinstance(c.function.arguments, str) and c.function.arguments.startswith("{")
               for c in whole.choices[0].message.tool_calls or [])


async def test_reasoning_reaches_one_field(client: AsyncVertexChat, dialect: str) -> None:
    messages = ask("think about it [[tokens=3]]")
    options = thinking(dialect)
    whole = await client.chat.completions.create(model=MODEL, messages=messages, **options)
    stream = await client.chat.completions.create(
        model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True},
        **options,
    )
    pieces = []
    async for chunk in stream:
        for choice in chunk.choices:
            assert choice.delta.reasoning_content is None  # folded before the caller sees it
            pieces.append(choice.delta.reasoning or "")
    message = whole.choices[0].message
    assert message.reasoning_content is None
    assert whole.usage is not None and whole.usage.reasoning_tokens > 0
    if dialect in SHOWS_REASONING:
        assert message.reasoning and message.reasoning == "".join(pieces)
        assert stream.completion.choices[0].message.reasoning == message.reasoning
        assert stream.metrics.first_reasoning_at is not None
        assert stream.metrics.first_content_at is not None
        assert stream.metrics.first_reasoning_at <= stream.metrics.first_content_at
    else:  # OpenAI and TGI bill the thinking but do not send it
        assert message.reasoning is None and "".join(pieces) == ""
        assert stream.metrics.first_reasoning_at is None
    assert message.content == stream.completion.choices[0].message.content


async def test_usage_is_the_final_count(client: AsyncVertexChat, dialect: str) -> None:
    messages = ask("count [[tokens=6]]")
    whole = await client.chat.completions.create(model=MODEL, messages=messages)
    stream = await client.chat.completions.create(
        model=MODEL, messages=messages, stream=True,
        stream_options={"include_usage": True, "continuous_usage_stats": True},
    )
    with_usage = 0
    async for chunk in stream:
        with_usage += chunk.usage is not None
    assert whole.usage is not None and stream.usage == whole.usage
    assert (stream.usage.prompt_tokens, stream.usage.completion_tokens) == (2, 6)
    if DIALECTS[dialect].continuous_usage:
        # vLLM's running usage on every chunk: the last one (the final count) is kept.
        assert with_usage == 7
    else:
        assert with_usage == 1
    assert client.stats.prompt_tokens == 4 and client.stats.completion_tokens == 12


async def test_an_error_status_names_its_text(client: AsyncVertexChat, dialect: str) -> None:
    with pytest.raises(BadRequestError) as info:
        await client.chat.completions.create(
            model=MODEL, messages=ask("hi"), extra_headers={"X-Emulator-Fault": "400"}
        )
    assert "Request contains an invalid argument." in info.value.message
    assert "no error message" not in info.value.message


async def test_an_error_inside_the_stream_says_so(client: AsyncVertexChat, dialect: str) -> None:
    stream = await client.chat.completions.create(
        model=MODEL, messages=ask("hi [[tokens=8]]"), stream=True,
        extra_headers={"X-Emulator-Fault": "error-in-stream:after=2:code=400"},
    )
    received = []
    with pytest.raises(APIStatusError) as info:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    error = info.value
    # TGI reports a request it refuses as a validation error (422); the others keep 400.
    assert isinstance(error, UnprocessableEntityError if dialect == "tgi" else BadRequestError)
    assert "inside its HTTP 200 stream" in error.message
    assert "Request contains an invalid argument." in error.message
    assert len(error.attempts) == 1  # a 4xx is not retried
    assert error.partial is not None
    assert error.partial.choices[0].message.content == "".join(received) != ""


async def test_a_stream_cut_off_is_never_finished(emulator: Emulator, dialect: str) -> None:
    # Kind E: "" finish reasons (Ollama, SGLang) must not make a cut-off stream look finished.
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="k", retry=ONCE) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=ask("hi [[tokens=8]]"), stream=True,
            extra_headers={"X-Emulator-Fault": "truncate:after=3"},
        )
        with pytest.raises(StreamInterruptedError, match="before a finish reason"):
            async for _ in stream:
                pass
        assert not stream.finished
        assert stream.completion.choices[0].finish_reason is None


async def test_an_unknown_path_is_a_404_with_the_servers_text(
    emulator: Emulator, dialect: str
) -> None:
    async with AsyncVertexChat(base_url=emulator.url + "/nowhere", api_key="k",
                               retry=ONCE) as client:
        with pytest.raises(NotFoundError) as info:
            await client.chat.completions.create(model=MODEL, messages=ask("hi"))
    body = DIALECTS[dialect].not_found_body("/nowhere/chat/completions")[0]
    if body:
        assert "no error message" not in info.value.message
        assert "Not Found" in info.value.message or "not found" in info.value.message
    else:  # TGI's router answers an unknown path with an empty body
        assert "the server sent no error message" in info.value.message


async def test_an_answer_without_a_candidate_is_read(client: AsyncVertexChat, dialect: str) -> None:
    whole = await client.chat.completions.create(model=MODEL, messages=ask("[[finish=empty]]"))
    assert whole.choices == [] and whole.usage is not None and whole.usage.prompt_tokens == 1
    stream = await client.chat.completions.create(
        model=MODEL, messages=ask("[[finish=empty]]"), stream=True,
        stream_options={"include_usage": True},
    )
    async for _ in stream:
        pass
    assert stream.finished and stream.completion.choices == []
    assert stream.usage == whole.usage
    assert client.stats.failures == 0

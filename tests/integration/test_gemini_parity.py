"""Our client against the emulator, for each Gemini / OpenAI feature, streaming and not."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Literal

import msgspec
import pydantic
import pytest

from aiovertexchat import (
    AsyncVertexChat,
    BadRequestError,
    ChatCompletion,
    ChatStream,
    ContentFilterFinishReasonError,
    GoogleExtras,
    InvalidJSONError,
    LengthFinishReasonError,
    ThinkingConfig,
    UnsupportedSchemaError,
    audio_part,
    file_part,
    function_tool,
    image_part,
    parse_completion,
    pydantic_function_tool,
    resolve_response_format,
    text_part,
)
from aiovertexchat.emulator import Emulator
from tests.helpers import user

GEMINI = "google/gemini-2.5-flash"
GEMINI_3 = "google/gemini-3-pro-preview"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


def get_weather(city: str, days: int = 1, unit: Literal["c", "f"] = "c") -> str:
    """Get the weather forecast.

    Args:
        city: Which city.
        days: How many days ahead.
    """
    return f"sunny in {city}"


class Booking(pydantic.BaseModel):
    """Book a table."""

    people: int
    name: str


class CalendarEvent(pydantic.BaseModel):
    name: str
    date: str
    participants: list[str]


class Point(msgspec.Struct):
    x: int
    y: int


@pytest.fixture
async def vertex(emulator: Emulator) -> AsyncIterator[AsyncVertexChat]:
    """Through the managed Vertex path: Gemini-style tool-call deltas."""
    async with AsyncVertexChat(base_url=emulator.vertex_base_url(), api_key="t") as client:
        yield client
    assert client.connections_in_use == 0


@pytest.fixture
async def plain(emulator: Emulator) -> AsyncIterator[AsyncVertexChat]:
    """Through an OpenAI-style base URL: OpenAI-style indexed tool-call deltas."""
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="t") as client:
        yield client
    assert client.connections_in_use == 0


async def complete(
    client: AsyncVertexChat, stream: bool, **kwargs: Any
) -> tuple[ChatCompletion, ChatStream | None]:
    """The completion of a request, non-streaming or accumulated from its stream."""
    if not stream:
        return await client.chat.completions.create(**kwargs), None
    chat_stream = await client.chat.completions.create(stream=True, **kwargs)
    async with chat_stream:
        async for _ in chat_stream:
            pass
    assert chat_stream.finished
    return chat_stream.completion, chat_stream


# -- tools ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("route", ["vertex", "plain"])
async def test_tool_calls(
    stream: bool, route: str, vertex: AsyncVertexChat, plain: AsyncVertexChat
) -> None:
    client = vertex if route == "vertex" else plain
    tools = [function_tool(get_weather), pydantic_function_tool(Booking)]
    completion, _ = await complete(
        client, stream, model=GEMINI, messages=user("get_weather and Booking please"),
        tools=tools, n=2,
    )
    reference = await client.chat.completions.create(
        model=GEMINI, messages=user("get_weather and Booking please"), tools=tools, n=2
    )
    assert len(completion.choices) == 2
    for choice, want in zip(completion.choices, reference.choices, strict=True):
        assert choice.finish_reason == "tool_calls"
        calls = choice.message.tool_calls
        assert calls is not None and [c.function.name for c in calls] == ["get_weather", "Booking"]
        weather = json.loads(calls[0].function.arguments)
        assert isinstance(weather["city"], str) and weather.get("unit", "c") in ("c", "f")
        booking = Booking.model_validate_json(calls[1].function.arguments)
        assert isinstance(booking.people, int)
        assert all(c.id for c in calls) and len({c.id for c in calls}) == 2
        want_calls = want.message.tool_calls or []
        assert [c.function.arguments for c in calls] == [
            c.function.arguments for c in want_calls
        ]


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_choice_and_deprecated_functions(stream: bool, plain: AsyncVertexChat) -> None:
    tool = function_tool(get_weather)
    forced, _ = await complete(
        plain, stream, model="m", messages=user("hello"), tools=[tool], tool_choice="required"
    )
    assert forced.choices[0].finish_reason == "tool_calls"
    declined, _ = await complete(
        plain, stream, model="m", messages=user("call get_weather"), tools=[tool],
        tool_choice="none",
    )
    assert declined.choices[0].message.tool_calls is None and declined.choices[0].message.content
    legacy, _ = await complete(
        plain, stream, model="m", messages=user("call it"), functions=[tool["function"]],
        function_call={"name": "get_weather"},
    )
    call = legacy.choices[0].message.function_call
    assert legacy.choices[0].finish_reason == "function_call"
    assert call is not None and call.name == "get_weather"
    assert "city" in json.loads(call.arguments)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("send_back", ["object", "dict"])
@pytest.mark.parametrize("namespace", ["google", "vertex"])
async def test_thought_signature_round_trip(
    emulator: Emulator, vertex: AsyncVertexChat, stream: bool, send_back: str, namespace: str
) -> None:
    emulator.config.signature_namespace = namespace  # type: ignore[assignment]
    tools = [function_tool(get_weather)]
    messages: list[Any] = user("call get_weather for Paris")
    first, _ = await complete(vertex, stream, model=GEMINI_3, messages=messages, tools=tools)
    message = first.choices[0].message
    (call,) = message.tool_calls or []
    signature = (call.extra_content or {})[namespace]["thought_signature"]
    assert isinstance(signature, str) and signature
    messages.append(message if send_back == "object" else message.to_dict())
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny"})
    second, _ = await complete(vertex, stream, model=GEMINI_3, messages=messages, tools=tools)
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content

    # Without the signature the server refuses the next turn, as Gemini 3 does.
    stripped = message.to_dict()
    for item in stripped["tool_calls"]:
        item.pop("extra_content", None)
    with pytest.raises(BadRequestError) as caught:
        await vertex.chat.completions.create(
            model=GEMINI_3, messages=[*messages[:1], stripped, messages[2]], tools=tools
        )
    assert caught.value.status_code == 400 and "thought_signature" in str(caught.value)


# -- structured outputs ---------------------------------------------------------------------------
async def test_parse_pydantic_model(vertex: AsyncVertexChat) -> None:
    completion = await vertex.chat.completions.parse(
        model=GEMINI,
        messages=[
            {"role": "system", "content": "Extract the event information."},
            {"role": "user", "content": "Alice and Bob are going to a science fair on Friday."},
        ],
        response_format=CalendarEvent,
    )
    event = completion.choices[0].message.parsed
    assert isinstance(event, CalendarEvent) and isinstance(event.participants, list)
    assert json.loads(completion.choices[0].message.content or "") == event.model_dump()
    assert completion.request_id is not None and completion.request_id.startswith("emu-")


async def test_parse_other_formats(vertex: AsyncVertexChat) -> None:
    point = await vertex.chat.completions.parse(
        model=GEMINI, messages=user("a point"), response_format=Point
    )
    assert isinstance(point.choices[0].message.parsed, Point)
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "tags": {"type": "array",
                                                             "items": {"type": "string"}}},
        "required": ["ok", "tags"],
    }
    raw = await vertex.chat.completions.parse(
        model=GEMINI, messages=user("a dict"), response_format=schema, n=2
    )
    for choice in raw.choices:
        value = choice.message.parsed
        assert isinstance(value, dict) and isinstance(value["ok"], bool)
    anything = await vertex.chat.completions.parse(
        model=GEMINI, messages=user("json"), response_format={"type": "json_object"}
    )
    assert isinstance(anything.choices[0].message.parsed, dict)


async def test_parse_with_tagged_thoughts(vertex: AsyncVertexChat) -> None:
    completion = await vertex.chat.completions.parse(
        model=GEMINI,
        messages=user("an event"),
        response_format=CalendarEvent,
        google=GoogleExtras(
            thinking_config=ThinkingConfig(include_thoughts=True), thought_tag_marker="think"
        ),
    )
    message = completion.choices[0].message
    assert isinstance(message.parsed, CalendarEvent)
    assert message.reasoning is not None and len(message.reasoning.split()) == 8


async def test_parse_errors(emulator: Emulator, vertex: AsyncVertexChat) -> None:
    with pytest.raises(LengthFinishReasonError) as cut:
        await vertex.chat.completions.parse(
            model=GEMINI, messages=user("event"), response_format=CalendarEvent, max_tokens=3
        )
    assert cut.value.raw is not None and len(cut.value.raw) > 0
    with pytest.raises(ContentFilterFinishReasonError):
        await vertex.chat.completions.parse(
            model=GEMINI, messages=user("x [[finish=content_filter]]"),
            response_format=CalendarEvent,
        )
    with pytest.raises(InvalidJSONError) as invalid:
        await vertex.chat.completions.parse(
            model=GEMINI, messages=user("x [[json=invalid]]"), response_format=CalendarEvent
        )
    assert invalid.value.raw is not None and invalid.value.raw.endswith("(not JSON)")

    class Node(pydantic.BaseModel):
        children: list[Node] = []

    Node.model_rebuild()
    sent = emulator.stats.requests
    with pytest.raises(UnsupportedSchemaError, match="recursive"):
        await vertex.chat.completions.parse(model=GEMINI, messages=user("x"), response_format=Node)
    assert emulator.stats.requests == sent  # refused before sending
    # Sent raw, the recursive schema gets the server's 400 instead.
    with pytest.raises(BadRequestError, match="recursive"):
        await vertex.chat.completions.create(
            model=GEMINI, messages=user("x"),
            response_format={"type": "json_schema",
                             "json_schema": {"name": "n", "schema": Node.model_json_schema()}},
        )


async def test_parse_refuses_stream(vertex: AsyncVertexChat) -> None:
    with pytest.raises(TypeError, match="does not stream"):
        await vertex.chat.completions.parse(  # type: ignore[call-overload]
            model=GEMINI, messages=user("x"), response_format=Point, stream=True
        )


async def test_streamed_structured_output(vertex: AsyncVertexChat) -> None:
    fmt = resolve_response_format(CalendarEvent)
    completion, chat_stream = await complete(
        vertex, True, model=GEMINI, messages=user("event"), response_format=fmt.wire
    )
    parsed = parse_completion(completion, fmt)
    assert isinstance(parsed.choices[0].message.parsed, CalendarEvent)
    assert chat_stream is not None and len(chat_stream.metrics.chunk_times) > 3


# -- thoughts -------------------------------------------------------------------------------------
TAGGED = GoogleExtras(
    thinking_config=ThinkingConfig(include_thoughts=True, thinking_budget=6),
    thought_tag_marker="think",
)


@pytest.mark.parametrize("stream", [False, True])
async def test_tagged_thoughts_are_separated(stream: bool, vertex: AsyncVertexChat) -> None:
    completion, chat_stream = await complete(
        vertex, stream, model=GEMINI, messages=user("hi"), max_tokens=4, google=TAGGED,
        stream_options={"include_usage": True} if stream else None,
    )
    message = completion.choices[0].message
    assert message.content is not None and "<" not in message.content
    assert len(message.content.split()) == 4
    assert message.reasoning is not None and len(message.reasoning.split()) == 6
    assert completion.usage is not None and completion.usage.reasoning_tokens == 6
    raw, _ = await complete(
        vertex, stream, model=GEMINI, messages=user("hi"), max_tokens=4, google=TAGGED,
        separate_thoughts=False,
    )
    assert raw.choices[0].message.content == f"<think>{message.reasoning}</think>{message.content}"
    assert raw.choices[0].message.reasoning is None
    if chat_stream is not None:
        metrics = chat_stream.metrics
        assert metrics.first_reasoning_at is not None and metrics.first_content_at is not None
        assert metrics.first_reasoning_at <= metrics.first_content_at


async def test_streamed_chunks_never_show_tags(vertex: AsyncVertexChat) -> None:
    chat_stream = await vertex.chat.completions.create(
        model=GEMINI, messages=user("hi"), max_tokens=4, google=TAGGED, stream=True, n=2
    )
    texts: dict[int, str] = {}
    thoughts: dict[int, str] = {}
    async with chat_stream:
        async for chunk in chat_stream:
            for choice in chunk.choices:
                texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
                thoughts[choice.index] = thoughts.get(choice.index, "") + (
                    choice.delta.reasoning or ""
                )
    assert sorted(texts) == [0, 1]
    assert all("<" not in t and ">" not in t for t in (*texts.values(), *thoughts.values()))
    final = chat_stream.completion
    assert [c.message.content for c in final.choices] == [texts[0], texts[1]]
    assert [c.message.reasoning for c in final.choices] == [thoughts[0], thoughts[1]]


@pytest.mark.parametrize("stream", [False, True])
async def test_thought_parts_are_separated(stream: bool, vertex: AsyncVertexChat) -> None:
    # The raw form from Google's docs, with no marker: thoughts come flagged `thought: true`.
    extra = {"extra_body": {"google": {"thinking_config": {"include_thoughts": True}}}}
    completion, _ = await complete(
        vertex, stream, model=GEMINI, messages=user("hi"), max_tokens=3, extra_body=extra
    )
    message = completion.choices[0].message
    assert message.reasoning is not None and len(message.reasoning.split()) == 8
    assert message.content is not None and len(message.content.split()) == 3
    assert message.extra_content is None  # the per-piece flag is not the message's
    raw, _ = await complete(
        vertex, stream, model=GEMINI, messages=user("hi"), max_tokens=3, extra_body=extra,
        separate_thoughts=False,
    )
    assert raw.choices[0].message.content == message.reasoning + message.content


@pytest.mark.parametrize("stream", [False, True])
async def test_untagged_inline_thoughts_stay_in_content(
    stream: bool, emulator: Emulator, vertex: AsyncVertexChat
) -> None:
    emulator.config.thoughts_without_marker = "inline"
    completion, _ = await complete(
        vertex, stream, model=GEMINI, messages=user("hi"), max_tokens=2,
        google=GoogleExtras(thinking_config=ThinkingConfig(include_thoughts=True)),
    )
    message = completion.choices[0].message
    assert message.reasoning is None and message.content is not None
    assert len(message.content.split()) == 10  # nothing marks the thoughts: nothing to split


@pytest.mark.parametrize("stream", [False, True])
async def test_include_thoughts_on_a_non_thinking_model_is_a_400(
    stream: bool, vertex: AsyncVertexChat
) -> None:
    with pytest.raises(BadRequestError, match="thinking is not supported"):
        await complete(
            vertex, stream, model="google/gemini-2.0-flash-001", messages=user("hi"),
            google=GoogleExtras(thinking_config=ThinkingConfig(include_thoughts=True)),
        )


# -- multimodal, n, logprobs, metadata ------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
async def test_multimodal_parts_are_accepted(stream: bool, vertex: AsyncVertexChat) -> None:
    content = [
        text_part("Describe these two things"),
        image_part(PNG),
        image_part("gs://cloud-samples-data/generative-ai/image/scones.jpg"),
        audio_part("gs://cloud-samples-data/generative-ai/audio/pixel.mp3"),
        file_part(b"%PDF-1.7 tiny", extra_content={"google": {"note": 1}}),
    ]
    completion, _ = await complete(
        vertex, stream, model=GEMINI, messages=[{"role": "user", "content": content}],
        stream_options={"include_usage": True} if stream else None,
    )
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens == 4  # text only


@pytest.mark.parametrize("stream", [False, True])
async def test_logprobs_and_n(stream: bool, plain: AsyncVertexChat) -> None:
    kwargs: dict[str, Any] = dict(
        model="m", messages=user("x"), n=3, max_tokens=4, logprobs=True, top_logprobs=2, seed=7
    )
    completion, _ = await complete(plain, stream, **kwargs)
    reference = await plain.chat.completions.create(**kwargs)
    assert [c.index for c in completion.choices] == [0, 1, 2]
    for choice, want in zip(completion.choices, reference.choices, strict=True):
        assert choice.message.content == want.message.content
        assert choice.logprobs == want.logprobs
        assert choice.logprobs is not None and choice.logprobs.content is not None
        entries = choice.logprobs.content  # typed, as in the OpenAI SDK
        assert "".join(e.token for e in entries) == choice.message.content
        assert all(len(e.top_logprobs) == 2 for e in entries)


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


async def test_response_metadata(emulator: Emulator, vertex: AsyncVertexChat) -> None:
    completion = await vertex.chat.completions.create(model=GEMINI, messages=user("x"))
    assert completion.request_id == "emu-00000001"
    assert lower(completion.response_headers)["x-request-id"] == "emu-00000001"
    assert lower(completion.response_headers)["content-type"].startswith("application/json")
    chat_stream = await vertex.chat.completions.create(
        model=GEMINI, messages=user("x"), stream=True, google=TAGGED
    )
    async with chat_stream:
        async for _ in chat_stream:
            pass
    assert chat_stream.request_id == "emu-00000002"
    assert lower(chat_stream.response_headers)["content-type"] == "text/event-stream"
    assert lower(chat_stream.response_headers)["x-request-id"] == "emu-00000002"
    parsed = await vertex.chat.completions.parse(
        model=GEMINI, messages=user("x"), response_format={"type": "json_object"}
    )
    assert parsed.request_id == "emu-00000003"
    assert lower(parsed.response_headers)["x-request-id"] == "emu-00000003"

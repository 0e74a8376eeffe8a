"""The official `openai` SDK against the emulator: structured outputs with its `parse()`, tool
calling (with Gemini 3 signatures sent back), streamed tool calls through its stream helper."""

from __future__ import annotations

from typing import Any

import openai
import pydantic
import pytest


class CalendarEvent(pydantic.BaseModel):
    name: str
    date: str
    participants: list[str]


class GetWeather(pydantic.BaseModel):
    """Get the weather for a city."""

    city: str
    days: int


PROMPT: list[Any] = [
    {"role": "system", "content": "Extract the event information."},
    {"role": "user", "content": "Alice and Bob are going to a science fair on Friday."},
]


async def test_parse_as_in_googles_sample(sdk_vertex: openai.AsyncOpenAI) -> None:
    completion = await sdk_vertex.chat.completions.parse(
        model="google/gemini-2.5-flash", messages=PROMPT, response_format=CalendarEvent
    )
    event = completion.choices[0].message.parsed
    assert isinstance(event, CalendarEvent) and isinstance(event.participants, list)
    # Google's sample spells it client.beta.chat.completions.parse; it must work the same.
    beta = await sdk_vertex.beta.chat.completions.parse(
        model="google/gemini-2.5-flash", messages=PROMPT, response_format=CalendarEvent
    )
    assert beta.choices[0].message.parsed == event


async def test_parse_truncation_is_the_sdks_length_error(sdk_vertex: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.LengthFinishReasonError):
        await sdk_vertex.chat.completions.parse(
            model="google/gemini-2.5-flash", messages=PROMPT, response_format=CalendarEvent,
            max_tokens=2,
        )


async def test_tool_calling_with_signatures_sent_back(sdk_vertex: openai.AsyncOpenAI) -> None:
    model = "google/gemini-3-pro-preview"
    tools = [openai.pydantic_function_tool(GetWeather)]
    messages: list[Any] = [{"role": "user", "content": "call GetWeather for Paris"}]
    completion = await sdk_vertex.chat.completions.parse(
        model=model, messages=messages, tools=tools
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    (call,) = message.tool_calls or []
    assert call.type == "function"
    assert isinstance(call.function.parsed_arguments, GetWeather)
    # The SDK keeps unknown fields, so Gemini's extra_content survives model_dump().
    dumped = message.model_dump(exclude_none=True)
    assert "thought_signature" in dumped["tool_calls"][0]["extra_content"]["google"]
    dumped.pop("parsed", None)
    for item in dumped["tool_calls"]:
        item["function"].pop("parsed_arguments", None)
    messages += [dumped, {"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    answer = await sdk_vertex.chat.completions.create(model=model, messages=messages, tools=tools)
    assert answer.choices[0].finish_reason == "stop"


async def test_streamed_tool_calls_through_the_sdk_helper(sdk: openai.AsyncOpenAI) -> None:
    tools = [openai.pydantic_function_tool(GetWeather)]
    async with sdk.chat.completions.stream(
        model="m", messages=[{"role": "user", "content": "call GetWeather"}], tools=tools
    ) as stream:
        final = await stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert isinstance(call.function.parsed_arguments, GetWeather)
    assert final.choices[0].finish_reason == "tool_calls"


async def test_gemini_style_tool_deltas_reach_the_sdk(sdk_vertex: openai.AsyncOpenAI) -> None:
    stream = await sdk_vertex.chat.completions.create(
        model="google/gemini-2.5-flash",
        messages=[{"role": "user", "content": "call GetWeather"}],
        tools=[openai.pydantic_function_tool(GetWeather)],
        stream=True,
    )
    calls = []
    async with stream:
        async for chunk in stream:
            for choice in chunk.choices:
                calls += choice.delta.tool_calls or []
    (call,) = calls
    assert call.id == "" and call.function is not None  # Gemini's shape: no id, whole call
    assert GetWeather.model_validate_json(call.function.arguments or "").days >= 0

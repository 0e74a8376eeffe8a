"""Message content on spans: only when OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT says so,
in the conventions' message shape, and never media bytes or a URL's query string."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from aiovertexchat._telemetry.content import capture_enabled, input_messages, output_messages
from aiovertexchat.emulator import Emulator
from aiovertexchat.types import ChatCompletion
from tests.helpers import MODEL, user

from .conftest import Telemetry

CAPTURE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}}, "required": ["city"]}}}


@pytest.mark.parametrize(("value", "on"), [
    ("true", True), ("TRUE", True), ("1", True), ("SPAN_ONLY", True), ("span_and_event", True),
    ("false", False), ("", False), ("NO_CONTENT", False), ("0", False),
])
def test_the_opt_in_variable(value: str, on: bool) -> None:
    assert capture_enabled({CAPTURE: value}, CAPTURE) is on


def test_input_messages_in_the_conventions_shape() -> None:
    body = msgspec.json.encode({"model": "m", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {
                "url": "https://storage.example/a.png?X-Goog-Signature=SIGNED"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ]},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "c1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]})
    messages = json.loads(input_messages(body) or "null")
    assert messages == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [
            {"type": "text", "content": "what is this?"},
            {"type": "uri", "modality": "image", "uri": "https://storage.example/a.png"},
            {"type": "blob", "modality": "image", "mime_type": "image/png", "size": 4},
        ]},
        {"role": "assistant", "parts": [
            {"type": "tool_call", "id": "c1", "name": "get_weather",
             "arguments": {"city": "Paris"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1",
                                    "response": "sunny"}]},
    ]
    assert "SIGNED" not in (input_messages(body) or "")


def test_output_messages_in_the_conventions_shape() -> None:
    completion = msgspec.convert({"id": "x", "model": "m", "choices": [
        {"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "checking", "reasoning": "need the weather",
            "tool_calls": [{"id": "c1", "type": "function", "function": {
                "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]}},
    ]}, ChatCompletion)
    assert json.loads(output_messages(completion)) == [{
        "role": "assistant", "finish_reason": "tool_calls", "parts": [
            {"type": "reasoning", "content": "need the weather"},
            {"type": "text", "content": "checking"},
            {"type": "tool_call", "id": "c1", "name": "get_weather",
             "arguments": {"city": "Oslo"}},
        ]}]


def test_unreadable_body_records_nothing() -> None:
    assert input_messages(b"not json") is None
    assert input_messages(b'{"messages": "oops"}') is None


async def spans_of_a_tool_call(emulator: Emulator, otel: Telemetry, environ: dict[str, str],
                               stream: bool) -> dict[str, Any]:
    async with otel.client(emulator, environ=environ) as client:
        result = await client.chat.completions.create(
            model=MODEL, messages=user("call get_weather"), tools=[WEATHER], stream=stream
        )
        if stream:
            async for _ in result:  # type: ignore[union-attr]
                pass
    return dict(otel.span().attributes or {})


@pytest.mark.parametrize("stream", [False, True])
async def test_content_on_the_span_when_opted_in(
    emulator: Emulator, otel: Telemetry, stream: bool
) -> None:
    attrs = await spans_of_a_tool_call(emulator, otel, {CAPTURE: "true"}, stream)
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "call get_weather"}]}
    ]
    (output,) = json.loads(attrs["gen_ai.output.messages"])
    assert output["finish_reason"] == "tool_calls"
    (call,) = [p for p in output["parts"] if p["type"] == "tool_call"]
    assert call["name"] == "get_weather" and isinstance(call["arguments"], dict)


async def test_no_content_by_default(emulator: Emulator, otel: Telemetry) -> None:
    attrs = await spans_of_a_tool_call(emulator, otel, {}, stream=False)
    assert "gen_ai.input.messages" not in attrs and "gen_ai.output.messages" not in attrs
    assert "call get_weather" not in json.dumps(attrs, default=str)

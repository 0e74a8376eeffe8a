"""The emulator's dialect profiles: each quirk in the table is on the wire, and nothing else moves.

Read with a plain HTTP client, so these tests see bytes as a server sends them, not what the
library makes of them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from aiovertexchat.emulator import Emulator, EmulatorConfig
from aiovertexchat.emulator import cli as emulator_main
from aiovertexchat.emulator.dialects import DIALECT_HEADER, DIALECTS, Dialect, dialect_named

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(require_auth=False)) as emu:
        yield emu


async def post(emu: Emulator, body: dict[str, Any], dialect: str | None,
               path: str = "/v1/chat/completions") -> tuple[int, bytes]:
    headers = {DIALECT_HEADER: dialect} if dialect else {}
    async with aiohttp.ClientSession() as session, session.post(
        emu.url + path, json=body, headers=headers
    ) as response:
        return response.status, await response.read()


def chunks(raw: bytes) -> list[dict[str, Any]]:
    events = [e for e in raw.decode().split("\n\n") if e.startswith("data: ")]
    return [json.loads(e[6:]) for e in events if e != "data: [DONE]"]


def ask(text: str, **body: Any) -> dict[str, Any]:
    return {"model": "qwen3", "messages": [{"role": "user", "content": text}], **body}


def test_every_dialect_is_in_one_table_under_its_name() -> None:
    assert sorted(DIALECTS) == ["gemini", "llamacpp", "ollama", "openai", "sglang", "tgi", "vllm"]
    assert all(isinstance(d, Dialect) and d.name == name for name, d in DIALECTS.items())
    assert dialect_named(None) is None and dialect_named("vertex") is None
    with pytest.raises(ValueError, match="known: gemini, llamacpp"):
        dialect_named("koboldcpp")
    with pytest.raises(ValueError, match="unknown dialect"):
        EmulatorConfig(dialect="koboldcpp")


async def test_a_header_picks_the_dialect_per_request(emulator: Emulator) -> None:
    _, ollama = await post(emulator, ask("hi [[tokens=3]]", stream=True), "ollama")
    _, vertex = await post(emulator, ask("hi [[tokens=3]]", stream=True), None)
    assert [c["choices"][0]["finish_reason"] for c in chunks(ollama)] == ["", "", "stop"]
    assert [c["choices"][0]["finish_reason"] for c in chunks(vertex)] == [None, None, "stop"]
    status, body = await post(emulator, ask("hi"), "koboldcpp")
    assert status == 400 and b"unknown dialect" in body


async def test_the_default_is_unchanged_by_a_dialect_elsewhere(emulator: Emulator) -> None:
    _, before = await post(emulator, ask("same [[tokens=5]]", stream=True), None)
    await post(emulator, ask("same [[tokens=5]]", stream=True), "tgi")
    _, after = await post(emulator, ask("same [[tokens=5]]", stream=True), None)
    strip = [{k: v for k, v in c.items() if k != "id"} for c in chunks(before)]
    assert strip == [{k: v for k, v in c.items() if k != "id"} for c in chunks(after)]


@pytest.mark.parametrize("name", sorted(DIALECTS))
async def test_streamed_quirks_are_on_the_wire(emulator: Emulator, name: str) -> None:
    dialect = DIALECTS[name]
    _, raw = await post(emulator, ask("hi [[tokens=3]]", stream=True), name)
    events = chunks(raw)
    assert len(events) == 3
    for position, event in enumerate(events):
        choice = event["choices"][0]
        last = position == 2
        assert choice["finish_reason"] == ("stop" if last else dialect.pending_finish)
        has_role = "role" in choice["delta"]
        assert has_role == (position == 0 or dialect.role_on_every_chunk)
        if dialect.chunk_id is not None:
            assert event["id"] == dialect.chunk_id
        for key, value in {**dialect.chunk_extras}.items():
            assert event[key] == value
        for key, value in dialect.choice_extras.items():
            assert choice[key] == value


@pytest.mark.parametrize("name", sorted(DIALECTS))
async def test_reasoning_goes_where_the_server_puts_it(emulator: Emulator, name: str) -> None:
    dialect = DIALECTS[name]
    thinking: dict[str, Any] = (
        {"extra_body": {"google": {"thinking_config": {"include_thoughts": True}}}}
        if name == "gemini" else {"reasoning_effort": "low"}
    )
    _, raw = await post(emulator, ask("why [[tokens=2]]", **thinking), name)
    message = json.loads(raw)["choices"][0]["message"]
    _, streamed = await post(emulator, ask("why [[tokens=2]]", stream=True, **thinking), name)
    deltas = [c["choices"][0]["delta"] for c in chunks(streamed)]
    if dialect.reasoning in ("reasoning", "reasoning_content"):
        field = dialect.reasoning
        assert message[field] and message["content"]
        assert "".join(d.get(field, "") for d in deltas) == message[field]
        blank = [d.get("content") for d in deltas if field in d]
        assert set(blank) == ({""} if dialect.blank_content_with_reasoning else {None})
    elif dialect.reasoning == "parts":
        assert message["content"][0]["extra_content"] == {"google": {"thought": True}}
    else:
        assert "reasoning" not in message and "reasoning_content" not in message
        assert not any("reasoning" in d or "reasoning_content" in d for d in deltas)


async def test_tool_call_delta_styles(emulator: Emulator) -> None:
    body = ask("call get_weather", stream=True, tools=TOOLS)
    _, tgi = await post(emulator, body, "tgi")
    tool_deltas = [c["choices"][0]["delta"]["tool_calls"] for c in chunks(tgi)
                   if "tool_calls" in c["choices"][0]["delta"]]
    assert all(isinstance(d, dict) and d["id"] == "" for d in tool_deltas)
    assert tool_deltas[0]["function"]["name"] == "get_weather"
    assert all(d["function"]["name"] is None for d in tool_deltas[1:])

    two = ask("call get_weather twice", stream=True, tools=[
        TOOLS[0], {"type": "function", "function": {"name": "twice", "parameters": {}}}])
    _, ollama = await post(emulator, two, "ollama")
    calls = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks(ollama)
             if "tool_calls" in c["choices"][0]["delta"]]
    assert [c["index"] for c in calls] == [0, 0]
    assert len({c["id"] for c in calls}) == 2
    _, sglang = await post(emulator, two, "sglang")
    indices = {c["choices"][0]["delta"]["tool_calls"][0]["index"] for c in chunks(sglang)
               if "tool_calls" in c["choices"][0]["delta"]}
    assert indices == {0}


@pytest.mark.parametrize("name", ["llamacpp", "tgi"])
async def test_whole_answers_send_arguments_as_objects(emulator: Emulator, name: str) -> None:
    _, raw = await post(emulator, ask("call get_weather", tools=TOOLS), name)
    call = json.loads(raw)["choices"][0]["message"]["tool_calls"][0]
    assert isinstance(call["function"]["arguments"], dict)
    assert set(call["function"]["arguments"]) == {"city"}


async def test_continuous_usage_is_running_then_final(emulator: Emulator) -> None:
    options = {"include_usage": True, "continuous_usage_stats": True}
    _, raw = await post(emulator, ask("hi [[tokens=4]]", stream=True, stream_options=options),
                        "vllm")
    usages = [c["usage"]["completion_tokens"] for c in chunks(raw)]
    assert usages == [1, 2, 3, 4, 4]
    _, plain = await post(emulator, ask("hi [[tokens=4]]", stream=True, stream_options=options),
                          "llamacpp")
    assert [c.get("usage") is not None for c in chunks(plain)] == [False] * 4 + [True]


async def test_an_answer_without_a_candidate(emulator: Emulator) -> None:
    _, gemini = await post(emulator, ask("[[finish=empty]]"), "gemini")
    body = json.loads(gemini)
    assert body["id"] is None and body["choices"] is None and body["usage"]["prompt_tokens"] == 1
    _, vllm = await post(emulator, ask("[[finish=empty]]"), "vllm")
    assert json.loads(vllm)["choices"] == []


@pytest.mark.parametrize("name", sorted(DIALECTS))
async def test_error_bodies_in_the_servers_shape(emulator: Emulator, name: str) -> None:
    dialect = DIALECTS[name]
    headers = {DIALECT_HEADER: name, "X-Emulator-Fault": "400"}
    async with aiohttp.ClientSession() as session, session.post(
        emulator.base_url + "/chat/completions", json=ask("hi"), headers=headers
    ) as response:
        body = await response.read()
    assert response.status == 400
    assert body == dialect.error_body(400, "Request contains an invalid argument.")
    decoded = json.loads(body)
    shapes = {
        "google_list": lambda d: d[0]["error"]["status"] == "INVALID_ARGUMENT",
        "vllm": lambda d: d["object"] == "error" and d["code"] == 400,
        "tgi": lambda d: d["error_type"] == "validation" and isinstance(d["error"], str),
        "llamacpp": lambda d: d["error"]["code"] == 400,
        "ollama": lambda d: d["error"]["type"] == "invalid_request_error",
        "openai": lambda d: d["error"]["param"] is None,
    }
    assert shapes[dialect.errors](decoded)


async def test_errors_inside_a_stream_and_unknown_paths(emulator: Emulator) -> None:
    fault = {"X-Emulator-Fault": "error-in-stream:after=1:code=503"}
    async with aiohttp.ClientSession() as session:
        async with session.post(emulator.base_url + "/chat/completions",
                                json=ask("hi", stream=True),
                                headers={DIALECT_HEADER: "tgi", **fault}) as response:
            raw = await response.read()
        assert response.status == 200
        assert json.loads(raw.decode().split("\n\n")[1][6:]) == {
            "error": "The service is currently unavailable.", "error_type": "overloaded"}
        async with session.post(emulator.url + "/v2/nope", json={},
                                headers={DIALECT_HEADER: "vllm"}) as response:
            assert (response.status, await response.read()) == (404, b'{"detail":"Not Found"}')
        async with session.post(emulator.url + "/v2/nope", json={},
                                headers={DIALECT_HEADER: "ollama"}) as response:
            assert response.status == 404 and await response.text() == "404 page not found\n"


def test_the_command_line_takes_a_dialect(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[EmulatorConfig] = []

    async def fake_serve(host: str, port: int, config: EmulatorConfig, **_: Any) -> None:
        seen.append(config)

    monkeypatch.setattr(emulator_main, "serve", fake_serve)
    emulator_main.main(["--dialect", "sglang"])
    emulator_main.main([])
    assert [c.dialect for c in seen] == ["sglang", None]
    with pytest.raises(SystemExit):
        emulator_main.main(["--dialect", "koboldcpp"])

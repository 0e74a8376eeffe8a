"""The emulator's Gemini features, sans-IO: request checks, planning, schema instances, and
the streamed wire reassembled through the client's SSE decoder and accumulator however the
bytes are split."""

from __future__ import annotations

import itertools
from typing import Any, Literal

import msgspec
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiovertexchat._protocol.accumulate import ChunkAccumulator
from aiovertexchat._protocol.schema import to_vertex_schema
from aiovertexchat._protocol.sse import SSEDecoder
from aiovertexchat._protocol.structured import check_instance
from aiovertexchat._protocol.thoughts import ChunkThoughtSeparator, finish_completion
from aiovertexchat.emulator.content import CompletionPlan, plan_completion
from aiovertexchat.emulator.gemini import SKIP_SIGNATURE, recursive_ref, thought_signature
from aiovertexchat.emulator.instances import schema_instance
from aiovertexchat.emulator.request import RequestError, Route, parse_request
from aiovertexchat.emulator.wire import StreamEncoder, completion_body
from aiovertexchat.types import ChatCompletion, ChatCompletionChunk
from tests.helpers import user

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}


def request(body: dict[str, Any], route: Route = Route.PLAIN) -> Any:
    return parse_request(msgspec.json.encode(body), route)


def plan_for(body: dict[str, Any], model: str = "m", **options: Any) -> CompletionPlan:
    body.setdefault("model", model)
    return plan_completion(
        request(body), seed=0, default_tokens=6, model=body["model"], **options
    )


# -- tool calls ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prompt", "extra", "called"),
    [
        ("what is the weather? use get_weather", {}, ["get_weather"]),
        ("get_time and get_weather please", {}, ["get_weather", "get_time"]),
        ("get_time and get_weather please", {"parallel_tool_calls": False}, ["get_weather"]),
        ("please call a tool", {}, ["get_weather"]),
        ("just chat", {}, []),
        ("just chat", {"tool_choice": "required"}, ["get_weather"]),
        ("use get_weather", {"tool_choice": "none"}, []),
        ("chat", {"tool_choice": {"type": "function", "function": {"name": "get_time"}}},
         ["get_time"]),
        ("get_weathers is not a tool name", {}, []),
    ],
)
def test_tool_call_decision(prompt: str, extra: dict[str, Any], called: list[str]) -> None:
    plan = plan_for({"messages": user(prompt), "tools": [WEATHER, TIME], **extra})
    (choice,) = plan.choices
    assert [c.name for c in choice.tool_calls] == called
    if called:
        assert choice.finish_reason == "tool_calls" and choice.content_null
        assert choice.pieces == []
    else:
        assert choice.finish_reason == "stop" and choice.text


def test_after_a_tool_result_the_model_answers_in_words() -> None:
    messages = [
        *user("call get_weather"),
        {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "get_weather",
                                                          "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    (choice,) = plan_for({"messages": messages, "tools": [WEATHER]}).choices
    assert choice.tool_calls == [] and choice.finish_reason == "stop"


def test_arguments_satisfy_the_schema_and_are_deterministic() -> None:
    body = {"messages": user("call get_weather"), "tools": [WEATHER], "n": 3}
    plans = [plan_for(dict(body)) for _ in range(2)]
    assert plans[0] == plans[1]
    schema = WEATHER["function"]["parameters"]  # type: ignore[index]
    arguments = set()
    for choice in plans[0].choices:
        (call,) = choice.tool_calls
        value = msgspec.json.decode(call.arguments)
        assert check_instance(value, schema) is None
        assert "".join(call.fragments) == call.arguments
        arguments.add(call.arguments)
        assert call.extra_content is None  # only Gemini 3 signs
    assert len(arguments) == 3  # choices differ


def test_legacy_functions_answer_with_function_call() -> None:
    body = {"messages": user("call it"), "functions": [WEATHER["function"]]}
    (choice,) = plan_for(body).choices
    assert choice.function_call is not None and choice.function_call.name == "get_weather"
    assert choice.finish_reason == "function_call" and choice.tool_calls == []


def test_gemini_3_signs_the_first_call_of_a_step() -> None:
    body = {"messages": user("get_weather and get_time"), "tools": [WEATHER, TIME]}
    (choice,) = plan_for(body, model="google/gemini-3-pro-preview").choices
    first, second = choice.tool_calls
    assert first.extra_content == {
        "google": {"thought_signature": thought_signature(first.name, first.arguments)}
    }
    assert second.extra_content is None


# -- Gemini request checks ----------------------------------------------------------------------
def _turn(call_extra: dict[str, Any] | None, arguments: str = '{"city":"x"}') -> dict[str, Any]:
    call: dict[str, Any] = {
        "id": "c1", "type": "function",
        "function": {"name": "get_weather", "arguments": arguments},
    }
    if call_extra is not None:
        call["extra_content"] = call_extra
    return {
        "model": "google/gemini-3-pro-preview",
        "tools": [WEATHER],
        "messages": [
            *user("call get_weather"),
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
    }


def test_missing_signature_is_a_400_on_gemini_3() -> None:
    with pytest.raises(RequestError, match="missing a `thought_signature`"):
        request(_turn(None), Route.MANAGED)
    with pytest.raises(RequestError, match="not valid"):
        request(_turn({"google": {"thought_signature": "forged"}}), Route.MANAGED)
    good = thought_signature("get_weather", '{"city":"x"}')
    request(_turn({"google": {"thought_signature": good}}), Route.MANAGED)
    request(_turn({"vertex": {"thought_signature": good}}), Route.MANAGED)
    request(_turn({"google": {"thought_signature": SKIP_SIGNATURE}}), Route.MANAGED)
    # The signature belongs to the call: different arguments, different signature.
    with pytest.raises(RequestError, match="not valid"):
        request(_turn({"google": {"thought_signature": good}}, '{"city":"y"}'), Route.MANAGED)
    # Earlier turns are not checked, and other models do not check at all.
    earlier = _turn(None)
    earlier["messages"] += user("thanks")
    request(earlier, Route.MANAGED)
    other = _turn(None)
    other["model"] = "google/gemini-2.5-flash"
    request(other, Route.MANAGED)


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"model": "google/gemini-2.0-flash-001",
          "extra_body": {"google": {"thinking_config": {"include_thoughts": True}}}},
         "thinking is not supported"),
        ({"reasoning_effort": "low",
          "extra_body": {"google": {"thinking_config": {"thinking_budget": 5}}}},
         "cannot both be set"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {
            "$defs": {"N": {"properties": {"k": {"items": {"$ref": "#/$defs/N"}}}}},
            "$ref": "#/$defs/N"}}}},
         "recursive schemas are not supported (N -> N)"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "n"}}},
         "needs json_schema.schema"),
    ],
)
def test_gemini_checks(body: dict[str, Any], complaint: str) -> None:
    body = {"messages": user("hi"), "model": "google/gemini-2.5-flash", **body}
    with pytest.raises(RequestError) as caught:
        request(body, Route.MANAGED)
    assert complaint in str(caught.value)


def test_recursive_ref_finds_cycles_only() -> None:
    shared = {"$defs": {"A": {"type": "string"}},
              "properties": {"x": {"$ref": "#/$defs/A"}, "y": {"$ref": "#/$defs/A"}}}
    assert recursive_ref(shared) is None
    assert recursive_ref({"items": {"$ref": "#"}}) == "the schema refers to itself"


# -- thoughts, JSON, logprobs, hooks ------------------------------------------------------------
def _thinking(include: bool = True, **google: Any) -> dict[str, Any]:
    return {"extra_body": {"google": {"thinking_config": {"include_thoughts": include},
                                      **google}}}


def test_tagged_thoughts_split_their_tags_across_pieces() -> None:
    body = {"messages": user("hi"), "max_tokens": 3, **_thinking(thought_tag_marker="think")}
    (choice,) = plan_for(body).choices
    assert choice.pieces[0] == "<th"
    assert "<think>" not in choice.pieces and choice.text.count("<think>") == 1
    thoughts, answer = choice.text[len("<think>"):].split("</think>")
    assert len(thoughts.split()) == 8 and len(answer.split()) == 3
    assert choice.reasoning_tokens == 8 and choice.completion_tokens == 11


def test_thought_parts_and_inline_thoughts() -> None:
    body = {"messages": user("hi"), "max_tokens": 2, **_thinking()}
    (parts,) = plan_for(dict(body)).choices
    assert len(parts.thought_pieces) == 8 and len(parts.pieces) == 2
    (inline,) = plan_for(dict(body), inline_thoughts=True).choices
    assert inline.thought_pieces == [] and len(inline.text.split()) == 10
    assert inline.text.split()[:8] == "".join(parts.thought_pieces).split()


@pytest.mark.parametrize(
    ("google", "effort", "expected"),
    [
        ({"thinking_config": {"thinking_budget": 3, "include_thoughts": False}}, None, 3),
        ({"thinking_config": {"thinking_budget": 0}}, None, 0),
        ({"thinking_config": {"thinking_level": "high"}}, None, 16),
        (None, "medium", 8),
        (None, "none", 0),
    ],
)
def test_reasoning_tokens(google: dict[str, Any] | None, effort: str | None, expected: int) -> None:
    body: dict[str, Any] = {"messages": user("hi"), "max_tokens": 2}
    if google is not None:
        body["extra_body"] = {"google": google}
    if effort is not None:
        body["reasoning_effort"] = effort
    plan = plan_for(body, model="google/gemini-2.5-flash")
    assert plan.reasoning_tokens == expected
    assert plan.completion_tokens == 2 + expected
    assert plan.choices[0].thought_pieces == []  # not shown without include_thoughts
    usage = msgspec.json.decode(completion_body(plan, "c", 1))["usage"]
    details = usage.get("completion_tokens_details")
    assert (details or {}).get("reasoning_tokens", 0) == expected


class Ticket(pydantic.BaseModel):
    title: str
    priority: Literal["low", "high"]
    tags: list[str]
    estimate: float | None = None
    assignee: dict[str, int] = {}


def test_json_schema_answers_validate_and_json_object_is_json() -> None:
    schema = to_vertex_schema(Ticket.model_json_schema())
    fmt = {"type": "json_schema", "json_schema": {"name": "Ticket", "schema": schema}}
    for n in range(4):
        body = {"messages": user(f"ticket {n}"), "response_format": fmt}
        (choice,) = plan_for(body).choices
        Ticket.model_validate_json(choice.text)
        assert choice.finish_reason == "stop"
    (obj,) = plan_for({"messages": user("x"), "response_format": {"type": "json_object"}}).choices
    assert isinstance(msgspec.json.decode(obj.text), dict)


def test_json_truncation_and_hooks() -> None:
    fmt = {"type": "json_object"}
    (cut,) = plan_for({"messages": user("x"), "response_format": fmt, "max_tokens": 2}).choices
    assert cut.finish_reason == "length" and len(cut.pieces) == 2
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(cut.text)
    (bad,) = plan_for({"messages": user("x [[json=invalid]]"), "response_format": fmt}).choices
    assert bad.finish_reason == "stop" and bad.text.endswith("(not JSON)")
    (filtered,) = plan_for({"messages": user("x [[finish=content_filter]]")}).choices
    assert filtered.finish_reason == "content_filter" and filtered.content_null


def test_logprobs_per_piece() -> None:
    body = {"messages": user("x"), "max_tokens": 4, "logprobs": True, "top_logprobs": 2}
    (choice,) = plan_for(body).choices
    assert choice.logprobs is not None and len(choice.logprobs) == 4
    for entry, piece in zip(choice.logprobs, choice.pieces, strict=True):
        assert entry["token"] == piece and entry["logprob"] <= 0
        assert len(entry["top_logprobs"]) == 2


# -- schema instances ---------------------------------------------------------------------------
_leaf = st.sampled_from(
    [
        {"type": "string"},
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "uuid"},
        {"type": "string", "minLength": 12, "maxLength": 20},
        {"type": "integer", "minimum": -5, "maximum": 5},
        {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3},
        {"type": "number", "minimum": 0.5, "maximum": 2},
        {"type": "boolean"},
        {"type": "null"},
        {"enum": ["a", "b", 3]},
        {"const": "fixed"},
        {"type": ["string", "null"]},
        {"type": "string", "nullable": True},
    ]
)


def _schemas() -> st.SearchStrategy[dict[str, Any]]:
    def extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        objects = st.dictionaries(st.sampled_from("abcdef"), children, max_size=4).flatmap(
            lambda props: st.builds(
                lambda required: {"type": "object", "properties": props,
                                  "required": sorted(required)},
                st.sets(st.sampled_from(sorted(props) or ["_"])).map(
                    lambda names: names & set(props)
                ),
            )
        )
        arrays = st.builds(
            lambda items, low, extra: {"type": "array", "items": items, "minItems": low,
                                       "maxItems": low + extra},
            children, st.integers(0, 2), st.integers(0, 2),
        )
        any_of = st.lists(children, min_size=1, max_size=3).map(lambda xs: {"anyOf": xs})
        return objects | arrays | any_of

    return st.recursive(_leaf, extend, max_leaves=12)


@settings(max_examples=150, deadline=None)
@given(_schemas(), st.binary(max_size=8))
def test_generated_values_satisfy_their_schema(schema: dict[str, Any], key: bytes) -> None:
    value = schema_instance(schema, key)
    assert check_instance(value, schema) is None
    assert schema_instance(schema, key) == value  # deterministic
    # Bounds that the light checker does not look at:
    _check_bounds(value, schema)


def _check_bounds(value: Any, schema: dict[str, Any]) -> None:
    if isinstance(value, str) and "minLength" in schema:
        assert schema["minLength"] <= len(value) <= schema["maxLength"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema:
            assert schema["minimum"] <= value <= schema["maximum"]
        if "exclusiveMinimum" in schema:
            assert schema["exclusiveMinimum"] < value < schema["exclusiveMaximum"]
    if isinstance(value, list) and schema.get("type") == "array":
        assert schema["minItems"] <= len(value) <= schema["maxItems"]
        for item in value:
            _check_bounds(item, schema["items"])
    if isinstance(value, dict) and schema.get("type") == "object":
        for name, item in value.items():
            _check_bounds(item, schema["properties"][name])


def test_recursive_schemas_still_end() -> None:
    tree = {
        "$defs": {"Node": {"type": "object", "properties": {
            "value": {"type": "integer"},
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}},
            "required": ["value", "children"]}},
        "$ref": "#/$defs/Node",
    }
    value = schema_instance(tree, b"k")
    depth = 0
    node = value
    while node["children"]:
        node, depth = node["children"][0], depth + 1
    assert 1 <= depth < 10


# -- wire, split at every byte ------------------------------------------------------------------
def _events(plan: CompletionPlan) -> bytes:
    encoder = StreamEncoder("chatcmpl-x", 7, plan.model)
    return b"".join(encoder.events(plan, include_usage=True))


def _reassemble(
    pieces: list[bytes], separator: ChunkThoughtSeparator | None = None
) -> ChatCompletion:
    decoder = SSEDecoder()
    acc = ChunkAccumulator()
    for piece in pieces:
        for event in decoder.feed(piece):
            chunk = msgspec.json.decode(event.data, type=ChatCompletionChunk)
            if separator is not None:
                separator(chunk)
            acc.add(chunk)
    decoder.end()
    assert acc.finished
    return acc.result()


def _expected(plan: CompletionPlan) -> ChatCompletion:
    return msgspec.json.decode(completion_body(plan, "chatcmpl-x", 7), type=ChatCompletion)


def _calls(completion: ChatCompletion) -> list[list[tuple[str, str, Any]]]:
    return [
        [(c.function.name, c.function.arguments, c.extra_content)
         for c in choice.message.tool_calls or []]
        for choice in completion.choices
    ]


@pytest.mark.parametrize("gemini", [False, True])
def test_tool_call_stream_split_at_every_byte(gemini: bool) -> None:
    body = {"messages": user("get_weather and get_time"), "tools": [WEATHER, TIME], "n": 2}
    plan = plan_for(body, model="google/gemini-3-pro", gemini_tool_deltas=gemini)
    data = _events(plan)
    expected = _calls(_expected(plan))
    assert len(expected[0]) == 2 and expected[0][0][2] is not None
    for cut in range(len(data) + 1):
        result = _reassemble([data[:cut], data[cut:]])
        assert _calls(result) == expected, cut
        assert [c.finish_reason for c in result.choices] == ["tool_calls", "tool_calls"]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_feature_stream_any_partition(data: st.DataObject) -> None:
    marker = data.draw(st.sampled_from([None, "think"]))
    body = {
        "messages": user("x"), "n": 2, "max_tokens": 3, "logprobs": True,
        **_thinking(thought_tag_marker=marker),
    }
    plan = plan_for(body, model="google/gemini-2.5-flash")
    stream = _events(plan)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    bounds = [0, *cuts, len(stream)]
    pieces = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    expected = _expected(plan)
    google = {"thought_tag_marker": marker} if marker else {}
    finish_completion(expected, google, separate=True)
    raw = _reassemble(pieces)
    separated = _reassemble(pieces, ChunkThoughtSeparator(marker))
    for got, split, want in zip(raw.choices, separated.choices, expected.choices, strict=True):
        # Without the client's separator, thoughts stay in the text (flags are per delta).
        assert got.message.content is not None and got.message.reasoning is None
        if marker is None:
            assert got.message.content == (want.message.reasoning or "") + (
                want.message.content or ""
            )
        (thoughts, answer) = (want.message.reasoning, want.message.content)
        assert (split.message.reasoning, split.message.content) == (thoughts, answer)
        assert thoughts is not None and len(thoughts.split()) == 8
        assert got.logprobs == want.logprobs
    assert raw.usage == expected.usage
    assert raw.usage is not None and raw.usage.reasoning_tokens == 16

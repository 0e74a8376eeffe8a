"""Other servers' valid answers decode to the same typed objects as ours (issue 12, kinds A, C, E).

Each test names the kind and the server whose public bug report showed the shape. The strict
decoder stays the fast path: the fallback runs only when it refuses the bytes.
"""

from __future__ import annotations

import copy
from typing import Any
from unittest import mock

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiovertexchat import APIResponseValidationError, RateLimitError, UnprocessableEntityError
from aiovertexchat._protocol import decode as decode_module
from aiovertexchat._protocol.accumulate import ChunkAccumulator
from aiovertexchat._protocol.decode import (
    CHUNK_DECODER,
    decode_completion,
    decode_tolerantly,
)
from aiovertexchat.types import (
    FIELD_ALIASES,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChoiceDelta,
)


def body(**fields: Any) -> bytes:
    base: dict[str, Any] = {
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                     "finish_reason": "stop"}],
    }
    base.update(fields)
    return msgspec.json.encode(base)


def completion(raw: bytes) -> ChatCompletion:
    return decode_completion(raw, status=200, headers={}, request_id=None)


def tool_message(arguments: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "get_weather", "arguments": arguments}},
    ]}


# -- kind A: a valid answer of an unexpected shape ----------------------------------------------
def test_object_arguments_become_their_json_text() -> None:
    # llama.cpp (ggml-org/llama.cpp#20198) and older TGI (text-generation-inference#2136).
    raw = body(choices=[{"index": 0, "finish_reason": "tool_calls",
                         "message": tool_message({"city": "Paris", "days": 2})}])
    call = completion(raw).choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.arguments == '{"city":"Paris","days":2}'
    assert msgspec.json.decode(call.function.arguments) == {"city": "Paris", "days": 2}
    assert (call.id, call.function.name) == ("call_1", "get_weather")


def test_array_arguments_become_their_json_text() -> None:
    raw = body(choices=[{"index": 0, "message": tool_message([1, "two"])}])
    call = completion(raw).choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.arguments == '[1,"two"]'


def test_gemini_null_id_and_null_choices_with_usage() -> None:
    # michelle-avery/custom-conversation#24: Gemini's OpenAI endpoint, a long answer.
    raw = (b'{"id": null, "choices": null, "created": 1743682890, "model": "gemini-2.5-pro",'
           b' "object": "chat.completion", "usage": {"completion_tokens": 0,'
           b' "prompt_tokens": 1396, "total_tokens": 1396}}')
    result = completion(raw)
    assert result.id == "" and result.choices == []
    assert result.usage is not None and result.usage.prompt_tokens == 1396
    assert result.created == 1743682890 and result.model == "gemini-2.5-pro"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("choices", 0, "index"), None),
        (("choices", 0, "message"), None),
        (("object",), None),
        (("created",), None),
        (("model",), None),
        (("usage", "prompt_tokens"), None),
        (("choices", 0, "message", "tool_calls", 0, "type"), None),
        (("choices", 0, "message", "tool_calls", 0, "function"), None),
    ],
)
def test_null_where_a_default_exists_is_the_default(path: tuple[Any, ...], value: Any) -> None:
    data: dict[str, Any] = {
        "id": "c1", "object": "chat.completion", "created": 5, "model": "m",
        "choices": [{"index": 0, "message": tool_message("{}"), "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    place: Any = data
    for key in path[:-1]:
        place = place[key]
    place[path[-1]] = value
    result = completion(msgspec.json.encode(data))
    expected = completion(body())  # defaults of every field, where a null was sent
    assert len(result.choices) == 1
    if path == ("choices", 0, "index"):
        assert result.choices[0].index == 0
    if path[-1] == "message":
        assert result.choices[0].message == ChatCompletionMessage()
    if path == ("created",):
        assert result.created == 0
    if path == ("object",):
        assert result.object == expected.object == "chat.completion"
    if path == ("usage", "prompt_tokens"):
        assert result.usage is not None and result.usage.prompt_tokens == 0
        assert result.usage.total_tokens == 4
    if path[-1] == "type":
        assert result.choices[0].message.tool_calls[0].type == "function"  # type: ignore[index]


def test_float_timestamps_become_integers() -> None:
    result = completion(body(created=1761380911.099925))
    assert result.created == 1761380911


def test_single_object_where_a_list_is_expected_is_a_list_of_one() -> None:
    # TGI streams `tool_calls` as one object (huggingface/text-generation-inference#2794).
    payload = (
        '{"object":"chat.completion.chunk","id":"","created":1733213355,"model":"qwen",'
        '"system_fingerprint":"2.4.1-sha-d2ed52f","choices":[{"index":0,"delta":{"role":'
        '"assistant","tool_calls":{"index":0,"id":"","type":"function","function":{"name":null,'
        '"arguments":"ther"}}},"logprobs":null,"finish_reason":null}],"usage":null}'
    )
    with pytest.raises(msgspec.ValidationError):
        CHUNK_DECODER.decode(payload)  # strict decoding refuses it ...
    chunk = decode_tolerantly(payload, ChatCompletionChunk)  # ... the fallback reads it
    (call,) = chunk.choices[0].delta.tool_calls or []
    assert call.index == 0 and call.function is not None
    assert call.function.arguments == "ther" and call.function.name is None
    # `id: ""` is a sentinel: absent.
    assert call.id is None and chunk.id == ""


def test_object_arguments_in_a_streamed_delta_become_json_text() -> None:
    # Ollama through a LiteLLM proxy streamed dicts (BerriAI/litellm#37792).
    payload = (b'{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_9",'
               b'"function":{"name":"get_weather","arguments":{"city":"Oslo"}}}]}}]}')
    chunk = decode_tolerantly(payload, ChatCompletionChunk)
    call = (chunk.choices[0].delta.tool_calls or [])[0]
    assert call.function is not None and call.function.arguments == '{"city":"Oslo"}'


def test_null_choice_fields_in_a_chunk_are_defaults() -> None:
    payload = (b'{"id":null,"choices":[{"index":null,"delta":null,"finish_reason":null}],'
               b'"created":null}')
    chunk = decode_tolerantly(payload, ChatCompletionChunk)
    assert (chunk.id, chunk.created) == ("", 0)
    assert chunk.choices[0].index == 0 and chunk.choices[0].delta == ChoiceDelta()


def test_a_single_content_part_object_becomes_a_list_of_parts() -> None:
    raw = body(choices=[{"index": 0, "message": {"role": "assistant",
                                                 "content": {"type": "text", "text": "hello"}}}])
    message = completion(raw).choices[0].message
    assert message.content == "hello"
    assert message.content_parts == [{"type": "text", "text": "hello"}]


def test_what_no_rule_fixes_is_still_unreadable_and_names_the_path() -> None:
    raw = body(choices=[{"index": 0, "message": {"role": "assistant", "content": 7}}])
    with pytest.raises(APIResponseValidationError) as info:
        completion(raw)
    error = info.value
    assert error.status_code == 200
    assert error.path == "$.choices[0].message.content"
    assert "valid JSON, unexpected shape at $.choices[0].message.content" in error.message
    assert error.body == raw.decode()


def test_the_strict_path_never_calls_the_fallback() -> None:
    with mock.patch.object(decode_module, "decode_tolerantly") as fallback:
        result = completion(body())
    fallback.assert_not_called()
    assert result.choices[0].message.content == "hi"


# -- kind C: other servers' names -----------------------------------------------------------------
def test_reasoning_content_is_reasoning_in_messages() -> None:
    raw = body(choices=[{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "4", "reasoning_content": "2 + 2 is 4"}}])
    message = completion(raw).choices[0].message
    assert message.reasoning == "2 + 2 is 4" and message.content == "4"
    assert message.reasoning_content is None
    # Sent back as `messages`, it carries one name only.
    assert "reasoning_content" not in message.to_dict()
    assert message.to_dict()["reasoning"] == "2 + 2 is 4"


def test_when_both_names_are_sent_ours_wins_and_nothing_is_doubled() -> None:
    # vLLM sent both names with the same text for a while (vllm-project/vllm#34030).
    raw = body(choices=[{"index": 0, "message": {
        "role": "assistant", "reasoning": "think", "reasoning_content": "think"}}])
    assert completion(raw).choices[0].message.reasoning == "think"


def test_reasoning_content_in_a_reshaped_answer() -> None:
    # The fallback applies the same alias table (here triggered by object arguments).
    message = tool_message({"a": 1})
    message["reasoning_content"] = "why"
    result = completion(body(choices=[{"index": 0, "message": message}]))
    assert result.choices[0].message.reasoning == "why"
    assert result.choices[0].message.tool_calls[0].function.arguments == '{"a":1}'  # type: ignore[index]


def test_every_alias_is_declared_so_the_strict_path_keeps_it() -> None:
    for alias, ours in FIELD_ALIASES.items():
        for struct in (ChoiceDelta, ChatCompletionMessage):
            assert alias in struct.__struct_fields__ and ours in struct.__struct_fields__


def test_reasoning_content_deltas_are_folded_before_the_caller_sees_them() -> None:
    accumulator = ChunkAccumulator()
    chunks = [
        b'{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"a"}}]}',
        b'{"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"b"}}]}',
        b'{"id":"c","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}]}',
    ]
    seen = []
    for raw in chunks:
        chunk = CHUNK_DECODER.decode(raw)
        accumulator.add(chunk)
        seen.append((chunk.choices[0].delta.reasoning, chunk.choices[0].delta.reasoning_content))
    assert seen == [("a", None), ("b", None), (None, None)]
    assert accumulator.result().choices[0].message.reasoning == "ab"


# -- kind E: empty strings are not values ----------------------------------------------------------
def test_empty_finish_reason_on_every_chunk_is_not_a_finish() -> None:
    # Ollama (ollama/ollama#4357), SGLang (sgl-project/sglang#3912).
    accumulator = ChunkAccumulator()
    for word in ("Hello", " there"):
        chunk = CHUNK_DECODER.decode(
            b'{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"'
            + word.encode() + b'"},"finish_reason":""}]}'
        )
        accumulator.add(chunk)
        assert chunk.choices[0].finish_reason is None  # what the caller sees
        assert chunk.choices[0].delta.role == "assistant"
    assert not accumulator.finished
    accumulator.add(CHUNK_DECODER.decode(
        b'{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
    ))
    assert accumulator.finished
    assert accumulator.result().choices[0].finish_reason == "stop"


def test_the_string_null_as_finish_reason_is_not_a_finish() -> None:
    # Suspected of a KoboldCpp build (PowerShell/AIShell#350).
    accumulator = ChunkAccumulator()
    accumulator.add(CHUNK_DECODER.decode(
        b'{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"null"}]}'
    ))
    assert not accumulator.finished


def test_empty_role_and_finish_in_a_whole_answer_are_absent() -> None:
    raw = body(choices=[{"index": 0, "finish_reason": "",
                         "message": {"role": "", "content": "x"}}])
    choice = completion(raw).choices[0]
    assert choice.finish_reason is None and choice.message.role is None


def test_sentinels_in_a_reshaped_chunk_are_absent() -> None:
    payload = (b'{"id":"","choices":[{"index":0,"finish_reason":"","delta":{"role":"",'
               b'"tool_calls":{"index":0,"id":"","type":"","function":{"arguments":"{}"}}}}]}')
    chunk = decode_tolerantly(payload, ChatCompletionChunk)
    choice = chunk.choices[0]
    assert choice.finish_reason is None and choice.delta.role is None
    call = (choice.delta.tool_calls or [])[0]
    assert (call.id, call.type) == (None, None)


# -- errors inside a 200 body (kind D in a 2xx answer) ---------------------------------------------
def test_an_error_object_in_a_200_body_is_the_typed_error_it_names() -> None:
    # OpenRouter puts the provider's 429 inside a 200 answer (BerriAI/litellm#8448).
    raw = (b'{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":null},'
           b'"finish_reason":"stop"}],"error":{"message":"Provider returned error","code":429}}')
    with pytest.raises(RateLimitError) as info:
        completion(raw)
    assert "Provider returned error" in info.value.message
    assert "inside an HTTP 200 body" in info.value.message


def test_tgi_validation_error_answered_with_200_is_a_422() -> None:
    # TGI 2.4.0 answered input validation errors with 200 (text-generation-inference#2749).
    raw = b'{"error":"Input validation error: max_new_tokens too large","error_type":"validation"}'
    with pytest.raises(UnprocessableEntityError) as info:
        completion(raw)
    assert info.value.status_code == 422
    assert "Input validation error" in info.value.message


# -- property: any mix of dialect shapes decodes like the canonical answer -------------------------
TEXT = st.text(max_size=8)


@st.composite
def canonical(draw: st.DrawFn) -> dict[str, Any]:
    calls = draw(st.lists(st.fixed_dictionaries({
        "id": st.from_regex(r"call_[a-z0-9]{4}", fullmatch=True),
        "type": st.just("function"),
        "function": st.fixed_dictionaries({
            "name": st.sampled_from(["f", "g"]),
            "arguments": st.dictionaries(st.sampled_from("abc"), st.integers(), max_size=2),
        }),
    }), max_size=2))
    message: dict[str, Any] = {"role": "assistant", "content": draw(st.none() | TEXT)}
    if calls:
        message["tool_calls"] = calls
    if draw(st.booleans()):
        message["reasoning"] = draw(TEXT.filter(bool))
    return {
        "id": draw(st.from_regex(r"chatcmpl-[a-z0-9]{3}", fullmatch=True)),
        "object": "chat.completion",
        "created": draw(st.integers(0, 2**31)),
        "model": draw(st.sampled_from(["m", "qwen3"])),
        "choices": [{"index": 0, "message": message,
                     "finish_reason": draw(st.sampled_from(["stop", "length", "tool_calls"]))}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }


def as_ours(data: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(data)
    for call in result["choices"][0]["message"].get("tool_calls", []):
        call["function"]["arguments"] = msgspec.json.encode(call["function"]["arguments"]).decode()
    return result


@st.composite
def dialect_shaped(draw: st.DrawFn, data: dict[str, Any]) -> dict[str, Any]:
    """The same answer as another server might send it: each quirk drawn independently."""
    shaped = copy.deepcopy(data)
    message = shaped["choices"][0]["message"]
    for call in message.get("tool_calls", []):
        if not draw(st.booleans()):  # object arguments, or the JSON text
            call["function"]["arguments"] = msgspec.json.encode(
                call["function"]["arguments"]).decode()
        if draw(st.booleans()):
            call["type"] = draw(st.sampled_from([None, ""]))
    if "reasoning" in message and draw(st.booleans()):
        message["reasoning_content"] = message.pop("reasoning")
    if draw(st.booleans()):
        shaped["object"] = None
    if draw(st.booleans()):
        shaped["created"] = float(shaped["created"])
    if draw(st.booleans()):
        shaped["choices"][0]["index"] = None
    if draw(st.booleans()):
        shaped["usage"]["completion_tokens_details"] = None
    return shaped


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_any_mix_of_dialect_shapes_decodes_like_the_canonical_answer(data: st.DataObject) -> None:
    answer = data.draw(canonical())
    expected = completion(msgspec.json.encode(as_ours(answer)))
    shaped = data.draw(dialect_shaped(answer))
    assert completion(msgspec.json.encode(shaped)) == expected

"""Streamed tool calls are matched by id, then index (issue 12, kind B).

Rules: a non-empty id not seen before starts a new call, even at an occupied index; a delta
without id (or `id: ""`) continues the call at its index, else (no index) the last call, unless
it names a function; calls keep their order of arrival.
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from aiovertexchat._protocol.accumulate import ChunkAccumulator
from aiovertexchat._protocol.decode import decode_tolerantly
from aiovertexchat.types import ChatCompletionChunk


def chunk(tool_calls: Any, finish: str | None = None) -> ChatCompletionChunk:
    data = {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": tool_calls},
                                    "finish_reason": finish}]}
    return decode_tolerantly(msgspec.json.encode(data), ChatCompletionChunk)


def calls_of(*deltas: Any) -> list[tuple[str, str, str]]:
    accumulator = ChunkAccumulator()
    for delta in deltas:
        accumulator.add(chunk(delta))
    accumulator.add(chunk(None, finish="tool_calls"))
    message = accumulator.result().choices[0].message
    return [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []]


def test_two_calls_at_index_0_with_different_ids_stay_two_calls() -> None:
    # The example (Ollama, ollama/ollama#15457): both at index 0, each with its id.
    assert calls_of(
        [{"index": 0, "id": "call_aa11", "type": "function",
          "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}],
        [{"index": 0, "id": "call_bb22", "type": "function",
          "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}],
    ) == [
        ("call_aa11", "get_weather", '{"city": "Paris"}'),
        ("call_bb22", "get_weather", '{"city": "Rome"}'),
    ]


def test_id_then_fragments_at_index_0_for_every_call() -> None:
    # SGLang's Qwen3 parser (sgl-project/sglang#6310), vLLM-based dynamo (ai-dynamo/dynamo#4723):
    # each call's id and name first, its argument fragments after, all at index 0.
    assert calls_of(
        [{"index": 0, "id": "call_1", "function": {"name": "add", "arguments": ""}}],
        [{"index": 0, "function": {"arguments": '{"a": '}}],
        [{"index": 0, "function": {"arguments": "1}"}}],
        [{"index": 0, "id": "call_2", "function": {"name": "mul", "arguments": ""}}],
        [{"index": 0, "id": "", "function": {"arguments": '{"b": 2}'}}],
    ) == [("call_1", "add", '{"a": 1}'), ("call_2", "mul", '{"b": 2}')]


def test_names_are_never_glued_together() -> None:
    # NousResearch/hermes-agent#3468: 'write_filewrite_filewrite_file' from index-only matching.
    calls = calls_of(*[
        [{"index": 0, "id": f"call_{i}", "function": {"name": "write_file", "arguments": "{}"}}]
        for i in range(3)
    ])
    assert [name for _, name, _ in calls] == ["write_file"] * 3
    assert [i for i, _, _ in calls] == ["call_0", "call_1", "call_2"]


def test_an_id_arriving_after_the_call_began_is_that_calls_id() -> None:
    assert calls_of(
        [{"index": 0, "function": {"name": "f", "arguments": "{"}}],
        [{"index": 0, "id": "call_late", "function": {"arguments": "}"}}],
    ) == [("call_late", "f", "{}")]


def test_an_id_sent_on_every_fragment_continues_its_call() -> None:
    assert calls_of(
        [{"index": 0, "id": "call_x", "function": {"name": "f", "arguments": '{"k"'}}],
        [{"index": 0, "id": "call_x", "function": {"arguments": ": 1}"}}],
    ) == [("call_x", "f", '{"k": 1}')]


def test_the_same_id_at_another_index_is_another_call() -> None:
    # Servers that derive ids from the function name reuse them; the index tells the calls apart.
    assert calls_of(
        [{"index": 0, "id": "call_f", "function": {"name": "f", "arguments": "1"}}],
        [{"index": 1, "id": "call_f", "function": {"name": "f", "arguments": "2"}}],
        [{"index": 0, "function": {"arguments": "a"}}],
        [{"index": 1, "function": {"arguments": "b"}}],
    ) == [("call_f", "f", "1a"), ("call_f", "f", "2b")]


def test_tgi_tool_calls_as_one_object_with_empty_ids() -> None:
    # huggingface/text-generation-inference#2794: an object, `id: ""`, `name: null` later.
    assert calls_of(
        {"index": 0, "id": "", "type": "function", "function": {"name": "get_weather",
                                                                "arguments": ""}},
        {"index": 0, "id": "", "type": "function", "function": {"name": None, "arguments": '{"l'}},
        {"index": 0, "id": "", "type": "function", "function": {"name": None, "arguments": '":1}'}},
    ) == [("call_0", "get_weather", '{"l":1}')]


def test_gemini_whole_calls_without_index_or_id() -> None:
    assert calls_of(
        [{"id": "", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        [{"id": "", "type": "function", "function": {"name": "g", "arguments": "[]"}}],
    ) == [("call_0", "f", "{}"), ("call_1", "g", "[]")]


def test_calls_keep_their_order_of_arrival() -> None:
    assert [c[0] for c in calls_of(
        [{"index": 1, "id": "call_b", "function": {"name": "b", "arguments": ""}}],
        [{"index": 0, "id": "call_a", "function": {"name": "a", "arguments": ""}}],
    )] == ["call_b", "call_a"]


def test_empty_ids_and_types_are_absent_on_the_delta_the_caller_sees() -> None:
    accumulator = ChunkAccumulator()
    delta_chunk = chunk([{"index": 0, "id": "", "type": "", "function": {"name": "f"}}])
    accumulator.add(delta_chunk)
    call = (delta_chunk.choices[0].delta.tool_calls or [])[0]
    assert (call.id, call.type) == (None, None)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["f", "g"]),
                  st.lists(st.text(alphabet="{}:ab1 ", min_size=1, max_size=4), max_size=4)),
        min_size=1, max_size=4,
    ),
    st.sampled_from(["openai", "same_index", "whole_same_index"]),
)
def test_any_calls_in_any_server_style_come_back_whole(
    calls: list[tuple[str, list[str]]], style: str
) -> None:
    deltas: list[Any] = []
    for position, (name, fragments) in enumerate(calls):
        index = position if style == "openai" else 0
        call_id = f"call_{position}"
        if style == "whole_same_index":
            deltas.append([{"index": 0, "id": call_id,
                            "function": {"name": name, "arguments": "".join(fragments)}}])
            continue
        deltas.append([{"index": index, "id": call_id, "function": {"name": name,
                                                                    "arguments": ""}}])
        deltas += [[{"index": index, "function": {"arguments": f}}] for f in fragments]
    expected = [(f"call_{p}", name, "".join(fr)) for p, (name, fr) in enumerate(calls)]
    assert calls_of(*deltas) == expected


from hypothesis import given
from hypothesis import strategies as st

from aiovertexchat._protocol.accumulate import ChunkAccumulator
from tests.helpers import chunk, delta_chunk


@given(st.lists(st.text(min_size=1), max_size=30))
def test_content_pieces_join_in_order(pieces: list[str]) -> None:
    acc = ChunkAccumulator()
    acc.add(delta_chunk({"role": "assistant"}))
    for piece in pieces:
        acc.add(delta_chunk({"content": piece}))
    acc.add(delta_chunk({}, finish="stop"))
    result = acc.result()
    assert result.choices[0].message.content == ("".join(pieces) or None)
    assert result.choices[0].finish_reason == "stop"
    assert acc.finished
    assert (result.id, result.model, result.created) == ("c1", "m", 7)


def test_n_choices_and_usage_chunk_with_empty_choices() -> None:
    acc = ChunkAccumulator()
    acc.add(delta_chunk({"content": "a"}, index=0))
    acc.add(delta_chunk({"content": "x"}, index=1))
    acc.add(delta_chunk({"content": "b"}, index=0, finish="stop"))
    assert not acc.finished  # choice 1 has not finished yet
    acc.add(delta_chunk({"content": "y"}, index=1, finish="length"))
    acc.add(chunk(usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}))
    result = acc.result()
    assert [c.message.content for c in result.choices] == ["ab", "xy"]
    assert [c.finish_reason for c in result.choices] == ["stop", "length"]
    assert result.usage is not None and result.usage.total_tokens == 7
    assert acc.finished


def test_openai_style_indexed_tool_call_fragments() -> None:
    acc = ChunkAccumulator()
    acc.add(delta_chunk({"tool_calls": [
        {"index": 0, "id": "call_a", "type": "function",
         "function": {"name": "get_weather", "arguments": ""}}]}))
    for fragment in ['{"ci', 'ty": "Par', 'is"}']:
        acc.add(delta_chunk({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}))
    acc.add(delta_chunk({"tool_calls": [
        {"index": 1, "id": "call_b", "function": {"name": "get_time", "arguments": "{}"}}]},
        finish="tool_calls"))
    calls = acc.result().choices[0].message.tool_calls
    assert calls is not None
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("call_a", "get_weather", '{"city": "Paris"}'),
        ("call_b", "get_time", "{}"),
    ]


def test_gemini_style_tool_calls_without_index_and_empty_id() -> None:
    acc = ChunkAccumulator()
    signature = {"google": {"thought_signature": "c2ln"}}
    acc.add(delta_chunk({"tool_calls": [
        {"id": "", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'},
         "extra_content": signature},
        {"id": "", "type": "function", "function": {"name": "g", "arguments": '{"b": 2}'}},
    ]}, finish="tool_calls"))
    calls = acc.result().choices[0].message.tool_calls
    assert calls is not None
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("call_0", "f", '{"a": 1}'),
        ("call_1", "g", '{"b": 2}'),
    ]
    assert calls[0].extra_content == signature
    assert calls[1].extra_content is None


def test_unindexed_fragments_continue_the_last_call() -> None:
    acc = ChunkAccumulator()
    first = {"id": "x1", "function": {"name": "f", "arguments": "{"}}
    acc.add(delta_chunk({"tool_calls": [first]}))
    acc.add(delta_chunk({"tool_calls": [{"function": {"arguments": "}"}}]}))
    acc.add(delta_chunk({"tool_calls": [{"id": "x1", "function": {"arguments": " "}}]}))
    calls = acc.result().choices[0].message.tool_calls
    assert calls is not None and len(calls) == 1
    assert (calls[0].id, calls[0].function.arguments) == ("x1", "{} ")


def test_reasoning_refusal_and_extra_content_accumulate() -> None:
    acc = ChunkAccumulator()
    acc.add(delta_chunk({"reasoning": "think ", "extra_content": {"google": {"a": 1}}}))
    acc.add(delta_chunk({"reasoning": "more", "extra_content": {"google": {"b": 2}}}))
    acc.add(delta_chunk({"refusal": "no"}, finish="stop"))
    message = acc.result().choices[0].message
    assert message.reasoning == "think more"
    assert message.refusal == "no"
    assert message.content is None
    assert message.extra_content == {"google": {"a": 1, "b": 2}}


def test_result_can_be_taken_mid_stream() -> None:
    acc = ChunkAccumulator()
    acc.add(delta_chunk({"content": "par"}))
    assert acc.result().choices[0].message.content == "par"
    acc.add(delta_chunk({"content": "tial"}))
    assert acc.result().choices[0].message.content == "partial"
    assert not acc.finished


def test_logprobs_are_concatenated() -> None:
    acc = ChunkAccumulator()
    entry = {"token": "a", "logprob": -0.1, "top_logprobs": []}
    acc.add(chunk(choices=[{"index": 0, "delta": {"content": "a"},
                            "logprobs": {"content": [entry]}}]))
    acc.add(chunk(choices=[{"index": 0, "delta": {"content": "b"},
                            "logprobs": {"content": [entry]}, "finish_reason": "stop"}]))
    logprobs = acc.result().choices[0].logprobs  # typed now; the same content as before
    assert logprobs is not None and logprobs.to_dict() == {"content": [entry, entry]}

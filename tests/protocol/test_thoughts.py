"""Thought separation, sans-IO: the tag splitter at every split point, and the chunk and
message rewriting built on it."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiovertexchat._protocol.accumulate import ChunkAccumulator
from aiovertexchat._protocol.thoughts import (
    ChunkThoughtSeparator,
    ThoughtSplitter,
    finish_completion,
    split_thoughts,
    stream_separator,
)
from aiovertexchat.types import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from tests.helpers import delta_chunk

THINK = "think"


def reference_split(text: str, marker: str) -> tuple[str, str]:
    """The obvious whole-text answer the incremental splitter must reproduce."""
    opening, closing = f"<{marker}>", f"</{marker}>"
    content: list[str] = []
    reasoning: list[str] = []
    inside = False
    pos = 0
    while True:
        tag = closing if inside else opening
        found = text.find(tag, pos)
        if found < 0:
            (reasoning if inside else content).append(text[pos:])
            return "".join(content), "".join(reasoning)
        (reasoning if inside else content).append(text[pos:found])
        pos = found + len(tag)
        inside = not inside


def feed_all(pieces: list[str], marker: str = THINK) -> tuple[str, str]:
    splitter = ThoughtSplitter(marker)
    content, reasoning = "", ""
    for piece in pieces:
        c, r = splitter.feed(piece)
        content, reasoning = content + c, reasoning + r
        # Never more than a possible tag prefix is held back.
        assert len(splitter.held) < len(f"</{marker}>")
    c, r = splitter.flush()
    return content + c, reasoning + r


SAMPLES = [
    "<think>plan the answer</think>The answer is 42.",
    "before<think>a</think>middle<think>b</think>after",
    "no tags at all",
    "<think>unterminated thought",
    "a < b and c <th d </think> e",  # a lone closing tag outside a thought is text
    "<think></think>",
    "<<think>>x<</think>>",
    "<thin<think>k</thi</think>",
    "ends with a partial tag <thi",
    "<think>ends inside with a partial close </thi",
    "unicode é 東京 <think>π λ</think> Ω€",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_every_single_split_point(text: str) -> None:
    expected = reference_split(text, THINK)
    assert split_thoughts(text, THINK) == expected
    for cut in range(len(text) + 1):
        assert feed_all([text[:cut], text[cut:]]) == expected, cut


@pytest.mark.parametrize("text", SAMPLES)
def test_every_pair_of_split_points(text: str) -> None:
    expected = reference_split(text, THINK)
    for first in range(len(text) + 1):
        for second in range(first, len(text) + 1):
            pieces = [text[:first], text[first:second], text[second:]]
            assert feed_all(pieces) == expected, (first, second)


@pytest.mark.parametrize("text", SAMPLES)
def test_one_character_at_a_time(text: str) -> None:
    assert feed_all(list(text)) == reference_split(text, THINK)


_alphabet = st.sampled_from(["<", ">", "/", "t", "h", "i", "n", "k", "x", " ", "é", "<think>",
                             "</think>", "<th", "ink>", "</", "東"])


@given(st.lists(_alphabet, max_size=40), st.data())
def test_any_partition_matches_the_whole_text(tokens: list[str], data: st.DataObject) -> None:
    text = "".join(tokens)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    bounds = [0, *cuts, len(text)]
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    assert feed_all(pieces) == reference_split(text, THINK)


@given(st.text(alphabet="<>/a", max_size=30), st.sampled_from(["a", "think", "t/x"]))
def test_other_markers(text: str, marker: str) -> None:
    expected = reference_split(text, marker)
    for cut in range(len(text) + 1):
        assert feed_all([text[:cut], text[cut:]], marker) == expected


def test_only_a_possible_tag_prefix_is_held_back() -> None:
    splitter = ThoughtSplitter(THINK)
    assert splitter.feed("hello <") == ("hello ", "")
    assert splitter.held == "<"
    assert splitter.feed("b>") == ("<b>", "")  # not a tag after all: released at once
    assert splitter.feed("x <thi") == ("x ", "")
    assert splitter.held == "<thi"
    assert splitter.feed("nk>deep") == ("", "deep")
    assert splitter.inside
    assert splitter.feed(" thought </think") == ("", " thought ")
    assert splitter.held == "</think"
    assert splitter.feed(">done") == ("done", "")
    assert splitter.held == ""
    # Text with no '<' in it is never delayed.
    assert splitter.feed("plain text") == ("plain text", "")


def test_flush_releases_held_text_where_it_belongs() -> None:
    splitter = ThoughtSplitter(THINK)
    assert splitter.feed("<think>x </th") == ("", "x ")
    assert splitter.flush() == ("", "</th")
    outside = ThoughtSplitter(THINK)
    assert outside.feed("y <th") == ("y ", "")
    assert outside.flush() == ("<th", "")


@pytest.mark.parametrize("marker", ["", "<think>", "a>b"])
def test_bad_markers_are_refused(marker: str) -> None:
    with pytest.raises(ValueError, match="thought_tag_marker"):
        ThoughtSplitter(marker)


# -- chunks -----------------------------------------------------------------------------------
def run_stream(
    separator: ChunkThoughtSeparator, deltas: list[tuple[dict[str, Any], int, str | None]]
) -> tuple[list[ChatCompletionChunk], ChatCompletion]:
    acc = ChunkAccumulator()
    out = []
    for delta, index, finish in deltas:
        c = delta_chunk(delta, index, finish)
        separator(c)
        acc.add(c)
        out.append(c)
    return out, acc.result()


@pytest.mark.parametrize("text", SAMPLES)
def test_chunk_separator_at_every_split_point(text: str) -> None:
    content, reasoning = reference_split(text, THINK)
    for cut in range(len(text) + 1):
        deltas = [({"content": text[:cut]}, 0, None), ({"content": text[cut:]}, 0, "stop")]
        chunks, result = run_stream(ChunkThoughtSeparator(THINK), deltas)
        message = result.choices[0].message
        assert (message.content or "", message.reasoning or "") == (content, reasoning)
        streamed_content = "".join(c.choices[0].delta.content or "" for c in chunks)
        streamed_reasoning = "".join(c.choices[0].delta.reasoning or "" for c in chunks)
        assert (streamed_content, streamed_reasoning) == (content, reasoning)


def test_chunk_separator_keeps_choices_apart() -> None:
    deltas: list[tuple[dict[str, Any], int, str | None]] = [
        ({"content": "<th"}, 0, None),
        ({"content": "plain <th"}, 1, None),
        ({"content": "ink>t0</think>a0"}, 0, "stop"),
        ({"content": "ink> too"}, 1, "stop"),
    ]
    _, result = run_stream(ChunkThoughtSeparator(THINK), deltas)
    first, second = (c.message for c in result.choices)
    assert (first.content, first.reasoning) == ("a0", "t0")
    assert (second.content, second.reasoning) == ("plain ", " too")


def test_thought_flag_wins_over_tags_and_is_not_kept_on_the_message() -> None:
    flag = {"google": {"thought": True, "thought_signature": "sig"}}
    deltas: list[tuple[dict[str, Any], int, str | None]] = [
        ({"content": "flagged <think>text", "extra_content": flag}, 0, None),
        ({"content": "answer"}, 0, "stop"),
    ]
    chunks, result = run_stream(ChunkThoughtSeparator(THINK), deltas)
    assert chunks[0].choices[0].delta.content is None
    assert chunks[0].choices[0].delta.reasoning == "flagged <think>text"
    assert chunks[0].choices[0].delta.extra_content == {"google": {"thought_signature": "sig"}}
    message = result.choices[0].message
    assert (message.content, message.reasoning) == ("answer", "flagged <think>text")
    assert message.extra_content == {"google": {"thought_signature": "sig"}}


def test_vertex_namespace_thought_flag() -> None:
    deltas: list[tuple[dict[str, Any], int, str | None]] = [
        ({"content": "t", "extra_content": {"vertex": {"thought": True}}}, 0, None),
        ({"content": "a"}, 0, "stop"),
    ]
    _, result = run_stream(ChunkThoughtSeparator(None), deltas)
    message = result.choices[0].message
    assert (message.content, message.reasoning, message.extra_content) == ("a", "t", None)


def test_stream_separator_only_when_thoughts_can_arrive() -> None:
    assert stream_separator({}, separate=True) is None
    assert stream_separator({"thought_tag_marker": "think"}, separate=False) is None
    assert stream_separator({"thought_tag_marker": "think"}, separate=True) is not None
    include = {"thinking_config": {"include_thoughts": True}}
    assert stream_separator(include, separate=True) is not None
    assert stream_separator({"thinking_config": {"thinking_budget": 5}}, separate=True) is None


# -- whole messages -----------------------------------------------------------------------------
def completion(message: dict[str, Any]) -> ChatCompletion:
    body = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    return msgspec.json.decode(msgspec.json.encode(body), type=ChatCompletion)


def test_tagged_message_is_split_unless_asked_not_to() -> None:
    raw = "<think>why</think>because"
    google = {"thought_tag_marker": "think"}
    separated = completion({"role": "assistant", "content": raw})
    finish_completion(separated, google, separate=True)
    message = separated.choices[0].message
    assert (message.content, message.reasoning) == ("because", "why")
    kept = completion({"role": "assistant", "content": raw})
    finish_completion(kept, google, separate=False)
    assert (kept.choices[0].message.content, kept.choices[0].message.reasoning) == (raw, None)


def test_content_parts_are_decoded_into_text_and_reasoning() -> None:
    parts = [
        {"type": "text", "text": "thinking", "extra_content": {"google": {"thought": True}}},
        {"type": "text", "text": "answer ",
         "extra_content": {"google": {"thought_signature": "s"}}},
        {"type": "image_url", "image_url": {"url": "gs://b/x.png"}},
        {"type": "text", "text": "more"},
    ]
    result = completion({"role": "assistant", "content": parts})
    message = result.choices[0].message
    assert message.content == "answer more"
    assert message.reasoning == "thinking"
    assert message.extra_content == {"google": {"thought_signature": "s"}}
    assert message.content_parts == parts
    # Sent back, the message carries plain text and the signature, never the parts list.
    assert msgspec.json.decode(msgspec.json.encode(message)) == {
        "role": "assistant",
        "content": "answer more",
        "reasoning": "thinking",
        "extra_content": {"google": {"thought_signature": "s"}},
    }
    raw = completion({"role": "assistant", "content": parts})
    finish_completion(raw, {}, separate=False)
    assert raw.choices[0].message.content == "thinkinganswer more"
    assert raw.choices[0].message.reasoning is None


def test_message_constructed_with_text_has_no_parts() -> None:
    message = ChatCompletionMessage(role="assistant", content="x")
    assert message.content_parts is None

"""Tool-call arguments split anywhere, in both delta shapes, accumulate to the whole JSON."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from aiovertexchat._protocol.accumulate import ChunkAccumulator
from tests.helpers import delta_chunk

ARGS = '{"city": "Zürich", "note": "a \\"quoted\\" {brace}", "days": [1, 2]}'


def openai_deltas(calls: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    deltas: list[dict[str, Any]] = []
    for index, (name, fragments) in enumerate(calls):
        deltas.append({"tool_calls": [{"index": index, "id": f"call_{name}", "type": "function",
                                       "function": {"name": name, "arguments": ""}}]})
        deltas += [{"tool_calls": [{"index": index, "function": {"arguments": f}}]}
                   for f in fragments]
    return deltas


def gemini_deltas(calls: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    """No index, empty id: the name starts a call, bare fragments continue the last one."""
    deltas: list[dict[str, Any]] = []
    for name, fragments in calls:
        first, *rest = fragments or [""]
        deltas.append({"tool_calls": [{"id": "", "type": "function",
                                       "function": {"name": name, "arguments": first}}]})
        deltas += [{"tool_calls": [{"id": "", "function": {"arguments": f}}]} for f in rest]
    return deltas


def accumulate(deltas: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    acc = ChunkAccumulator()
    for delta in deltas:
        acc.add(delta_chunk(delta))
    acc.add(delta_chunk({}, finish="tool_calls"))
    calls = acc.result().choices[0].message.tool_calls or []
    return [(c.id, c.function.name, c.function.arguments) for c in calls]


def test_every_split_point_both_shapes() -> None:
    for cut in range(len(ARGS) + 1):
        calls = [("f", [ARGS[:cut], ARGS[cut:]]), ("g", [ARGS[cut:], ARGS[:cut]])]
        assert accumulate(openai_deltas(calls)) == [
            ("call_f", "f", ARGS), ("call_g", "g", ARGS[cut:] + ARGS[:cut])
        ]
        assert accumulate(gemini_deltas(calls)) == [
            ("call_0", "f", ARGS), ("call_1", "g", ARGS[cut:] + ARGS[:cut])
        ]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "get_weather"]),
            st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=6), max_size=3),
        ),
        min_size=1,
        max_size=3,
    ),
    st.data(),
)
def test_any_partition_of_any_arguments(
    calls: list[tuple[str, dict[str, Any]]], data: st.DataObject
) -> None:
    planned = []
    for name, value in calls:
        text = msgspec.json.encode(value).decode()
        cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=6)))
        bounds = [0, *cuts, len(text)]
        planned.append((name, [text[a:b] for a, b in itertools.pairwise(bounds)]))
    expected = [(name, "".join(fragments)) for name, fragments in planned]
    assert [(n, a) for _, n, a in accumulate(openai_deltas(planned))] == expected
    assert [(n, a) for _, n, a in accumulate(gemini_deltas(planned))] == expected

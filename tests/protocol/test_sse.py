from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from httpx_sse._decoders import SSEDecoder as HttpxSSEDecoder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiovertexchat._protocol.sse import ServerSentEvent, SSEBufferOverflowError, SSEDecoder

E = ServerSentEvent
BOM = b"\xef\xbb\xbf"


def decode(chunks: Iterable[bytes], **kwargs: Any) -> list[ServerSentEvent]:
    decoder = SSEDecoder(**kwargs)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    events += decoder.end()
    return events


def whole(stream: bytes) -> list[ServerSentEvent]:
    return decode([stream])


def bytewise(stream: bytes) -> list[ServerSentEvent]:
    return decode(stream[i : i + 1] for i in range(len(stream)))


def split_at(stream: bytes, cuts: Iterable[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


def check(stream: bytes, expected: list[ServerSentEvent]) -> None:
    """`stream` decodes to `expected` in one feed, byte by byte, and cut at every position."""
    assert whole(stream) == expected
    assert bytewise(stream) == expected
    for cut in range(len(stream) + 1):
        assert decode(split_at(stream, [cut])) == expected, cut


# --- ServerSentEvent -------------------------------------------------------------------------


def test_event_defaults_repr_and_equality() -> None:
    event = E(data="x")
    assert (event.event, event.data, event.id, event.retry) == ("message", "x", "", None)
    assert repr(E("ping", "d", "7", 10)) == (
        "ServerSentEvent(event='ping', data='d', id='7', retry=10)"
    )
    assert E("ping", "d", "7", 10) == E(event="ping", data="d", id="7", retry=10)
    assert E(data="a") != E(data="b")
    assert E(data="a", id="1") != E(data="a", id="2")
    assert E(data="a", retry=1) != E(data="a")
    assert E(event="x", data="a") != E(data="a")
    assert E(data="a") != "a"
    with pytest.raises(AttributeError):
        event.other = 1  # type: ignore[attr-defined]


# --- dispatching and fields -------------------------------------------------------------------


def test_typical_stream() -> None:
    stream = b'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n'
    check(stream, [E(data='{"a":1}'), E(data='{"b":2}'), E(data="[DONE]")])


def test_one_event_per_feed_and_many_per_feed() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n\n") == [E(data="1")]
    assert decoder.feed(b"data: 2\n\ndata: 3\n\n") == [E(data="2"), E(data="3")]
    assert decoder.feed(b"data: 4\r\n\r\n") == [E(data="4")]
    assert decoder.feed(b"data: 5\n") == []
    assert decoder.feed(b"\n") == [E(data="5")]
    assert decoder.end() == []


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        # Not only single-line data events: the fast path must hand these over intact.
        (b"data: a\ndata: b\n\n", [E(data="a\nb")]),
        (b"data: a\n\n: keep-alive\n\ndata: b\n\n", [E(data="a"), E(data="b")]),
        (b"data: a\n\nevent: x\ndata: b\n\n", [E(data="a"), E("x", "b")]),
        (b"data: a\n\ndata: b\n", [E(data="a")]),
        (b"data: a\n\n\n\ndata: b\n\n", [E(data="a"), E(data="b")]),
        (b"data: a\n\ndata:b\n\n", [E(data="a"), E(data="b")]),
        (b"data: a\n\nid: 3\n\ndata: b\n\n", [E(data="a"), E(data="b", id="3")]),
        (b"data: a\r\rdata: b\r\n\r\n", [E(data="a"), E(data="b")]),
        (b"data: a\n\rdata: b\r\n\n", [E(data="a"), E(data="b")]),
    ],
)
def test_chunks_of_other_shapes(stream: bytes, expected: list[ServerSentEvent]) -> None:
    check(stream, expected)


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"])
def test_each_line_end(end: bytes) -> None:
    stream = b"event: e" + end + b"data: a" + end + b"data: b" + end + end + b"data: c" + end + end
    check(stream, [E("e", "a\nb"), E(data="c")])


def test_mixed_line_ends() -> None:
    # CR then LF is one line end; LF then CR is two.
    check(b"data: a\r\ndata: b\rdata: c\n\r\n", [E(data="a\nb\nc")])
    check(b"data: a\n\rdata: b\r\n\r\n", [E(data="a"), E(data="b")])
    check(b"data: a\r\r\ndata: b\n\r", [E(data="a"), E(data="b")])


def test_crlf_split_across_feeds_is_one_line_end() -> None:
    # Read as two line ends, the LF would be a blank line and dispatch "a" on its own.
    assert decode([b"data: a\r", b"\ndata: b\n\n"]) == [E(data="a\nb")]
    assert decode([b"data: a\r", b"", b"\n", b"data: b\r", b"\n\r", b"\n"]) == [E(data="a\nb")]
    # A CR at the end of a chunk followed by anything else is a line end by itself.
    assert decode([b"data: a\r", b"\r"]) == [E(data="a")]
    assert decode([b"data: a\r", b"data: b\n\n"]) == [E(data="a\nb")]
    # The fast path must not run while a CR is pending.
    assert decode([b"data: a\r\n\r", b"\ndata: b\n\n"]) == [E(data="a"), E(data="b")]


def test_bom_is_stripped_once_at_stream_start() -> None:
    check(BOM + b"data: a\n\n", [E(data="a")])
    assert decode([b"\xef", b"\xbb", b"\xbf", b"data: a\n\n"]) == [E(data="a")]
    assert decode([b"\xef\xbb", b"\xbfdata: a\n\n"]) == [E(data="a")]
    assert decode([b"", b"\xef", b"", b"\xbb", b"\xbfdata: a\n\n"]) == [E(data="a")]
    # A second BOM is part of the first field name, so "\ufeffdata" is an unknown field.
    check(BOM + BOM + b"data: a\n\ndata: b\n\n", [E(data="b")])
    # A BOM later in the stream is just a character.
    check(
        b"data: a\n\n" + BOM + b"data: b\n\ndata: " + BOM + b"\n\n", [E(data="a"), E(data="\ufeff")]
    )


def test_bytes_that_only_begin_like_a_bom_are_kept() -> None:
    # "\xef\xbb" then "X": not a BOM, so the field name is "\ufffdX...": ignored, not stripped.
    assert decode([b"\xef\xbb", b"Xdata: a\n\ndata: b\n\n"]) == [E(data="b")]
    assert decode([b"\xef", b"data: a\n\ndata: b\n\n"]) == [E(data="b")]
    assert decode([b"\xef", b"\n", b"data: b\n\n"]) == [E(data="b")]


def test_comments() -> None:
    check(b": hello\n:\ndata: a\n: in the middle\ndata: b\n\n: bye\n\n", [E(data="a\nb")])
    check(b":data: x\n\n", [])


def test_line_without_colon_is_a_field_with_empty_value() -> None:
    check(b"data\n\n", [E(data="")])
    check(b"data\ndata\n\n", [E(data="\n")])
    check(b"data: a\ndata\n\n", [E(data="a\n")])
    check(b"event\ndata: a\n\n", [E(data="a")])
    check(b"id: 5\ndata: a\n\nid\ndata: b\n\n", [E(data="a", id="5"), E(data="b")])


def test_one_leading_space_is_stripped() -> None:
    check(b"data:a\n\n", [E(data="a")])
    check(b"data: a\n\n", [E(data="a")])
    check(b"data:  a \n\n", [E(data=" a ")])
    check(b"data: \n\n", [E(data="")])
    check(b"data:\t a\n\n", [E(data="\t a")])
    check(b"event:  x\ndata:a:b\n\n", [E(" x", "a:b")])


def test_data_lines_are_joined_with_lf() -> None:
    check(b"data: a\ndata: b\ndata:\ndata: c\n\n", [E(data="a\nb\n\nc")])


def test_blank_line_without_data_dispatches_nothing() -> None:
    check(b"\n\n\n\r\n\r", [])
    check(b"event: x\n\nid: 1\n\nretry: 5\n\n: c\n\n", [])
    # The event type is reset even though nothing was dispatched.
    check(b"event: x\n\ndata: a\n\n", [E(data="a")])


def test_event_type() -> None:
    check(b"event: ping\ndata: 1\n\n", [E("ping", "1")])
    check(b"event:\ndata: 1\n\n", [E(data="1")])
    check(b"event: a\nevent: b\ndata: 1\n\n", [E("b", "1")])
    # Reset after every dispatch.
    check(b"event: a\ndata: 1\n\ndata: 2\n\n", [E("a", "1"), E(data="2")])


def test_id_persists_across_events() -> None:
    check(
        b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\nid:\ndata: d\n\n",
        [E(data="a", id="1"), E(data="b", id="1"), E(data="c", id="2"), E(data="d")],
    )
    # An id in a block without data still sets the last event ID.
    check(b"id: 7\n\ndata: a\n\n", [E(data="a", id="7")])
    # ...and it takes effect for the event it is in, wherever in the block it appears.
    check(b"data: a\nid: 8\n\n", [E(data="a", id="8")])


def test_id_containing_nul_is_ignored() -> None:
    check(b"id: 1\ndata: a\n\nid: x\x00y\ndata: b\n\n", [E(data="a", id="1"), E(data="b", id="1")])
    check(b"id: \x00\ndata: a\n\n", [E(data="a")])


def test_retry() -> None:
    check(b"retry: 1500\ndata: a\n\n", [E(data="a", retry=1500)])
    check(b"retry: 0010\ndata: a\n\n", [E(data="a", retry=10)])
    check(b"retry:0\ndata: a\n\n", [E(data="a", retry=0)])
    # Stream state, like the last event ID: it persists, including from a block without data.
    check(b"retry: 5\n\ndata: a\n\ndata: b\n\n", [E(data="a", retry=5), E(data="b", retry=5)])
    check(
        b"retry: 5\ndata: a\n\nretry: 6\ndata: b\n\n", [E(data="a", retry=5), E(data="b", retry=6)]
    )


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"abc",
        b"15x",
        b"-5",
        b"+5",
        b" 5",
        b"5 ",
        b"1_000",
        b"1.5",
        b"\xd9\xa3",
        b"\xef\xbc\x95",
    ],
)
def test_retry_that_is_not_ascii_digits_is_ignored(value: bytes) -> None:
    # Python's int() would take several of these (" 5", "+5", "1_000", Arabic-Indic digits).
    check(b"retry: 7\n\nretry: " + value + b"\ndata: a\n\n", [E(data="a", retry=7)])


def test_retry_with_absurdly_many_digits_is_ignored() -> None:
    assert whole(b"retry: " + b"9" * 5000 + b"\ndata: a\n\n") == [E(data="a")]
    assert whole(b"retry: " + b"0" * 5000 + b"42\ndata: a\n\n") == [E(data="a", retry=42)]


def test_unknown_fields_are_ignored_and_names_are_case_sensitive() -> None:
    check(
        b"foo: bar\nData: x\nDATA: y\ndata : z\n event: e\ndata: a\n\n",
        [E(data="a")],
    )


def test_utf8_characters_split_across_feeds() -> None:
    text = "héllo € 😀 ✓"
    stream = ("event: é\nid: 😀\ndata: " + text + "\n\n").encode()
    check(stream, [E("é", text, "😀")])


def test_invalid_utf8_is_replaced() -> None:
    check(b"data: a\xffb\xe2\x82\n\n", [E(data="a\ufffdb\ufffd")])
    check(b"event: \xc3\nid: \xed\xa0\x80\ndata: \xc3\xa9\n\n", [E("\ufffd", "é", "\ufffd" * 3)])


def test_unterminated_event_is_dropped() -> None:
    check(b"data: a\n\ndata: b\n", [E(data="a")])
    check(b"data: a\n\ndata: b", [E(data="a")])
    check(b"data: a\n\ndata: b\r", [E(data="a")])
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\n") == []
    assert decoder.end() == []


def test_end_resets_for_a_new_stream() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(BOM + b"id: 1\nretry: 9\ndata: a\n\ndata: partial") == [
        E(data="a", id="1", retry=9)
    ]
    assert decoder.end() == []
    assert decoder.feed(BOM + b"data: b\n\n") == [E(data="b")]
    assert decoder.end() == []
    assert decoder.end() == []


def test_max_event_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_event_size"):
        SSEDecoder(max_event_size=0)


# --- size cap --------------------------------------------------------------------------------


def test_one_long_line_overflows() -> None:
    line = b"data: " + b"x" * 100  # 106 bytes
    assert whole(line + b"\n\n") == [E(data="x" * 100)]
    assert decode([line + b"\n\n"], max_event_size=106) == [E(data="x" * 100)]
    for chunks in ([line + b"\n\n"], [line, b"\n\n"], [line[:50], line[50:]], [line]):
        with pytest.raises(SSEBufferOverflowError) as info:
            decode(chunks, max_event_size=105)
        assert info.value.limit == 105
        assert info.value.size > 105
    with pytest.raises(SSEBufferOverflowError):
        decode((line[i : i + 1] for i in range(len(line))), max_event_size=105)


def test_long_line_overflows_byte_by_byte_before_it_ends() -> None:
    decoder = SSEDecoder(max_event_size=1000)
    for _ in range(1000):
        assert decoder.feed(b"x") == []
    with pytest.raises(SSEBufferOverflowError) as info:
        decoder.feed(b"x")
    assert info.value.size == 1001
    message = str(info.value)
    assert "1001 bytes" in message
    assert "max_event_size=1000" in message
    assert "SSEDecoder(max_event_size=...)" in message


def test_long_unfinished_line_after_complete_lines_overflows() -> None:
    decoder = SSEDecoder(max_event_size=1000)
    assert decoder.feed(b"data: a\n\n" + b"x" * 1000) == [E(data="a")]
    with pytest.raises(SSEBufferOverflowError):
        SSEDecoder(max_event_size=1000).feed(b"data: a\n\n" + b"x" * 1001)
    # The data kept for the event counts as well: 2 bytes for "b" + 999 pending.
    with pytest.raises(SSEBufferOverflowError) as info:
        SSEDecoder(max_event_size=1000).feed(b"data: a\n\ndata: b\n" + b"x" * 999)
    assert info.value.size == 1001


def test_long_comment_line_counts_too() -> None:
    with pytest.raises(SSEBufferOverflowError):
        decode([b": " + b"c" * 200 + b"\n\n"], max_event_size=100)


def test_many_data_lines_overflow() -> None:
    event = b"data: 123456789\n" * 20 + b"\n"  # 20 values of 9 bytes: 200 bytes with separators
    assert decode([event], max_event_size=215) == [E(data="\n".join(["123456789"] * 20))]
    for chunks in ([event], split_at(event, range(0, len(event), 7))):
        with pytest.raises(SSEBufferOverflowError):
            decode(chunks, max_event_size=150)


def test_cap_is_per_event_not_per_chunk() -> None:
    stream = b"data: 0123456789\n\n" * 100
    assert decode([stream], max_event_size=20) == [E(data="0123456789")] * 100
    assert decode(split_at(stream, range(0, len(stream), 13)), max_event_size=20) == (
        [E(data="0123456789")] * 100
    )


def test_decoder_refuses_input_after_overflow_until_end() -> None:
    decoder = SSEDecoder(max_event_size=10)
    with pytest.raises(SSEBufferOverflowError):
        decoder.feed(b"data: 0123456789")
    with pytest.raises(SSEBufferOverflowError):
        decoder.feed(b"\n\n")
    with pytest.raises(SSEBufferOverflowError):
        decoder.feed(b"data: a\n\n")
    assert decoder.end() == []
    assert decoder.feed(b"data: a\n\n") == [E(data="a")]


# --- linear time -----------------------------------------------------------------------------
#
# Deterministic work meter instead of a stopwatch: the decoder's buffer is replaced by a
# bytearray that charges its whole current length for every call that reads it, and each
# input chunk by a bytes object that charges its own length likewise. A decoder that rescans
# or copies the pending buffer on every feed is charged ~n**2/2 for n one-byte feeds; ours must
# stay within a small constant times n.


class Meter:
    work = 0


class MeteredBuffer(bytearray):
    def __iadd__(self, other: Any) -> MeteredBuffer:  # type: ignore[misc]
        Meter.work += len(other)
        super().__iadd__(other)
        return self

    def __bytes__(self) -> bytes:
        Meter.work += len(self)
        return bytes(memoryview(self))


class MeteredBytes(bytes):
    pass


def _metered(cls: type, name: str) -> Any:
    method = getattr(cls.__mro__[1], name)

    def charged(self: Any, *args: Any, **kwargs: Any) -> Any:
        Meter.work += len(self)
        return method(self, *args, **kwargs)

    return charged


_READERS = [
    "__add__", "__contains__", "__eq__", "__getitem__", "count", "decode", "endswith",
    "extend", "find", "index", "join", "lstrip", "partition", "rfind", "rindex", "rpartition",
    "rsplit", "rstrip", "split", "splitlines", "startswith", "strip",
]  # fmt: skip
for _cls in (MeteredBuffer, MeteredBytes):
    for _name in _READERS:
        if hasattr(_cls.__mro__[1], _name):
            setattr(_cls, _name, _metered(_cls, _name))


def metered_decode(stream: bytes, piece: int) -> tuple[list[ServerSentEvent], int]:
    decoder = SSEDecoder()
    buffer = MeteredBuffer()
    decoder._buf = buffer
    Meter.work = 0
    events: list[ServerSentEvent] = []
    for i in range(0, len(stream), piece):
        events += decoder.feed(MeteredBytes(stream[i : i + piece]))
    assert decoder._buf is buffer  # the meter stayed in place all along
    return events, Meter.work


def test_meter_catches_a_quadratic_rescan() -> None:
    Meter.work = 0
    buffer = MeteredBuffer()
    n = 5000
    for _ in range(n):  # what a naive decoder does: append, then search the whole buffer
        buffer += b"x"
        assert buffer.find(b"\n") == -1
    assert Meter.work > n * n // 2


def test_two_megabyte_event_in_one_byte_feeds_is_linear() -> None:
    n = 2 * 1024 * 1024
    stream = b"data: " + b"x" * n + b"\n\n"
    events, work = metered_decode(stream, 1)
    assert len(events) == 1
    assert events[0].data == "x" * n
    assert work < 8 * len(stream)  # a quadratic decoder would be charged ~2 * 10**12


@pytest.mark.parametrize("line_end", [b"\n", b"\r", b"\r\n"])
def test_many_lines_in_small_feeds_is_linear(line_end: bytes) -> None:
    stream = (b"data: " + b"y" * 90 + line_end) * 3000 + line_end
    for piece in (1, 7):
        events, work = metered_decode(stream, piece)
        assert events == [E(data="\n".join(["y" * 90] * 3000))]
        assert work < 8 * len(stream)


def test_many_events_in_one_feed_is_linear() -> None:
    stream = b"data: 0123456789\n\n: ping\n\n" * 20000
    events, work = metered_decode(stream, len(stream))
    assert len(events) == 20000
    assert work < 8 * len(stream)


# --- property tests --------------------------------------------------------------------------

_TRICKY = list(" :\x00\t\x0b\x0c\x1c\x85\u2028\ufeffé€😀")
_VALUE = st.text(
    st.one_of(
        st.sampled_from(_TRICKY),
        st.characters(codec="utf-8", exclude_characters="\r\n"),
    ),
    max_size=8,
)
_LINE_END = st.sampled_from([b"\n", b"\r", b"\r\n"])
_INVALID_UTF8 = st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x9f"])
# Values for which Python's int() and the WHATWG "only ASCII digits" rule agree; see below.
_PORTABLE_RETRY = st.one_of(
    st.from_regex(r"\A[0-9]{1,7}\Z"), st.sampled_from(["", "abc", "12a", "1.5", "x9"])
)
_ANY_RETRY = st.one_of(
    _PORTABLE_RETRY, _VALUE, st.sampled_from([" 5", "5 ", "+5", "-5", "1_0", "٣", "0" * 9])
)


@st.composite
def sse_streams(draw: st.DrawFn, *, portable_retry: bool = False) -> bytes:
    """SSE-ish bytes: every field kind, comments, unknown fields, blank lines, mixed line ends,
    odd characters, invalid UTF-8, maybe a BOM and maybe an unterminated last line."""
    parts = [BOM] if draw(st.integers(0, 4)) == 0 else []
    for _ in range(draw(st.integers(0, 24))):
        kind = draw(
            st.sampled_from(
                ["data"] * 4 + ["blank"] * 4 + ["event", "id", "retry", "comment", "unknown"]
            )
        )
        if kind == "blank":
            line = ""
        elif kind == "comment":
            line = ":" + draw(_VALUE)
        else:
            name = draw(st.text(max_size=5)) if kind == "unknown" else kind
            name = name.replace("\r", "").replace("\n", "").replace(":", "")
            if kind == "retry":
                value = draw(_PORTABLE_RETRY if portable_retry else _ANY_RETRY)
            else:
                value = draw(_VALUE)
            sep = draw(st.sampled_from([":", ": ", ""]))
            line = name + sep + (value if sep else "")
        raw = line.encode()
        if line and draw(st.integers(0, 9)) == 0:
            raw += draw(_INVALID_UTF8)
        parts.append(raw + draw(_LINE_END))
    if draw(st.booleans()):
        parts.append(b"data: unterminated")
    return b"".join(parts)


@st.composite
def typical_streams(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    payloads = draw(st.lists(_VALUE.map(lambda v: '{"c":' + repr(v) + "}"), max_size=12))
    end = draw(st.sampled_from([b"\n\n", b"\r\n\r\n"]))
    return b"".join(b"data: " + p.encode() + end for p in payloads), payloads


_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(stream=sse_streams(), data=st.data())
def test_split_points_do_not_change_the_events(stream: bytes, data: st.DataObject) -> None:
    expected = whole(stream)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12), label="cuts")
    assert decode(split_at(stream, cuts)) == expected
    assert bytewise(stream) == expected


@_SETTINGS
@given(case=typical_streams(), data=st.data())
def test_typical_streams_split_anywhere(case: tuple[bytes, list[str]], data: st.DataObject) -> None:
    stream, payloads = case
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6), label="cuts")
    assert decode(split_at(stream, cuts)) == [E(data=p) for p in payloads]


def whatwg_lines(text: str) -> list[str]:
    """The complete lines of `text`: split at CRLF, LF or CR; an unterminated rest is dropped."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines.pop()  # whatever follows the last line end: "" or an unterminated line
    return lines


def httpx_sse_events(stream: bytes) -> list[ServerSentEvent]:
    """httpx-sse's decoder on the same stream, with its known departures from WHATWG undone.

    Where they differ we follow WHATWG, because that is what browsers' EventSource does and what
    servers are written against:
    (a) BOM: httpx-sse never strips one (its text comes from httpx's plain "utf-8" decoder), so
        a BOM would make the first field name "\\ufeffdata". WHATWG's UTF-8 decode strips one
        leading BOM; we strip it before handing httpx-sse the text.
    (b) Empty data: httpx-sse dispatches at a blank line whenever event, retry *or the last
        event id* is set, even with no data line. So after any `id:` every blank line (a
        keep-alive, a retry-only block) becomes an event with data "". WHATWG dispatches only
        if the data buffer is non-empty, i.e. at least one data line was seen; events from
        blocks without a data line are dropped here.
    (c) retry: httpx-sse attaches retry to the one event whose block had it and resets it.
        WHATWG makes it the stream's reconnection time, state that persists like the last
        event id (and is set even by a block that dispatches nothing), so we carry it forward.
        httpx-sse also parses with int(), which takes " 5", "5 ", "+5", "-5", "1_0" and
        non-ASCII digits that WHATWG ignores; the generator keeps to values where both agree
        (`portable_retry`); test_retry_that_is_not_ascii_digits_is_ignored covers the rest.
    (d) Unterminated last event: fed a final "", httpx-sse dispatches whatever is pending;
        WHATWG discards an event whose blank line never came. (httpx-sse's own aiter_sse only
        flushes the last partial line, which updates state without dispatching, so it drops it
        too.) We feed the final "" and discard what it returns.
    Same in both: id persists across events, an id containing NUL is ignored, one leading
    space is stripped, a line without colon is a field with an empty value.
    """
    text = stream.decode("utf-8", "replace")
    if text.startswith("\ufeff"):  # (a)
        text = text[1:]
    decoder = HttpxSSEDecoder()
    retry: int | None = None
    events: list[ServerSentEvent] = []
    for line in whatwg_lines(text):
        had_data = bool(decoder._data)
        event = decoder.decode(line)
        if event is None:
            continue
        if event.retry is not None:  # (c)
            retry = event.retry
        if had_data:  # (b)
            events.append(E(event.event, event.data, event.id, retry))
    decoder.decode("")  # (d): its event, if any, is the unterminated one
    return events


@_SETTINGS
@given(stream=sse_streams(portable_retry=True), data=st.data())
def test_matches_httpx_sse(stream: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8), label="cuts")
    assert decode(split_at(stream, cuts)) == httpx_sse_events(stream)


@pytest.mark.parametrize(
    ("stream", "ours", "raw_httpx_sse"),
    [
        (BOM + b"data: a\n\n", [E(data="a")], []),
        (
            b"id: 1\ndata: a\n\n\n: ping\n\n",
            [E(data="a", id="1")],
            [E(data="a", id="1"), E(id="1"), E(id="1"), E(id="1")],
        ),
        (b"retry: 5\n\ndata: a\n\n", [E(data="a", retry=5)], [E(retry=5), E(data="a")]),
        (b"retry: +5\ndata: a\n\n", [E(data="a")], [E(data="a", retry=5)]),
        (b"data: a\n", [], [E(data="a")]),
    ],
)
def test_documented_differences_from_httpx_sse(
    stream: bytes, ours: list[ServerSentEvent], raw_httpx_sse: Sequence[ServerSentEvent]
) -> None:
    decoder = HttpxSSEDecoder()
    lines = [*whatwg_lines(stream.decode()), ""]
    theirs = [e for e in map(decoder.decode, lines) if e is not None]
    assert [(e.event, e.data, e.id, e.retry) for e in theirs] == [
        (e.event, e.data, e.id, e.retry) for e in raw_httpx_sse
    ]
    assert whole(stream) == ours

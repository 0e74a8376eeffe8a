"""Typed errors only (README "Security"): whatever a server sends, only documented errors.

A raw asyncio server on 127.0.0.1 writes a random answer (random bytes; random JSON inside
valid HTTP; random HTTP framing: status line, headers, chunking, encodings) and closes the
connection. The client, streaming or not, must return a completion or raise an `APIError`
subclass: never a `RecursionError`, `UnicodeDecodeError`, a bare `ValueError` from aiohttp, or
anything else. Bounded: a fixed number of examples, each with a total deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import zlib
from collections.abc import Iterator

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiovertexchat import (
    APIError,
    AsyncVertexChat,
    ChatCompletion,
    InvalidJSONError,
    RetryPolicy,
    Timeouts,
    parse_completion,
    resolve_response_format,
)
from aiovertexchat._reliability.retry import retry_after_seconds

HELLO = [{"role": "user", "content": "hello"}]
# Two attempts, no waiting: the retry path (Retry-After parsing, the attempt history) runs too.
TWICE = RetryPolicy(max_attempts=2, base=0, cap=0, max_retry_after=0.001, budget_ratio=None)
BOUNDED = Timeouts(connect=2, first_byte=2, idle=2, total=5)
SETTINGS = settings(
    max_examples=60, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class OneShotServer:
    """Answers every connection with `self.answer` (raw bytes), then closes it."""

    def __init__(self) -> None:
        self.answer = b""
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(self.answer)
            await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()
            await writer.wait_closed()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture(scope="module")
def loop_and_server() -> Iterator[tuple[asyncio.AbstractEventLoop, OneShotServer]]:
    loop = asyncio.new_event_loop()
    server = OneShotServer()
    loop.run_until_complete(server.start())
    try:
        yield loop, server
    finally:
        loop.run_until_complete(server.stop())
        loop.close()


async def call(port: int, stream: bool) -> None:
    async with AsyncVertexChat(base_url=f"http://127.0.0.1:{port}/v1", api_key="k" * 20,
                               retry=TWICE, timeout=BOUNDED, environ={}) as client:
        if not stream:
            await client.chat.completions.create(model="m", messages=HELLO)
            return
        chat = await client.chat.completions.create(model="m", messages=HELLO, stream=True)
        async with chat:
            async for _ in chat:
                pass


def check(loop_and_server: tuple[asyncio.AbstractEventLoop, OneShotServer], answer: bytes,
          stream: bool) -> None:
    loop, server = loop_and_server
    server.answer = answer
    # APIError is documented: every failure a server can cause is one of these. Anything else
    # propagates and fails the test, with the answer that caused it.
    with contextlib.suppress(APIError):
        loop.run_until_complete(call(server.port, stream))


# -- strategies ---------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20,
)
# Completion-like objects whose fields hold random values: the decoder's shape checks.
completion_like = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values, "object": json_values, "created": json_values, "model": json_values,
        "usage": json_values, "error": json_values,
        "choices": st.lists(st.fixed_dictionaries({}, optional={
            "index": json_values, "finish_reason": json_values, "message": json_values,
            "delta": json_values, "logprobs": json_values,
        }), max_size=2),
    },
)
deep = st.integers(min_value=1, max_value=200_000).map(
    lambda n: ("[" * n + "]" * n).encode()
)
deep_object = st.integers(min_value=1, max_value=50_000).map(
    lambda n: ('{"error": ' + '{"a": ' * n + "1" + "}" * n + "}").encode()
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    completion_like.map(lambda v: json.dumps(v).encode()),
    deep, deep_object,
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"\xff\xfe\x00{", b'{"error": "\xff\xfe"}', b"\xef\xbb\xbf{}",
                     b'{"choices": [{"message": {"content": "\xed\xa0\x80"}}]}']),
)


def sse(events: list[bytes]) -> bytes:
    return b"".join(b"data: " + e + b"\n\n" for e in events)


sse_bodies = st.one_of(
    st.lists(bodies, max_size=4).map(sse),
    st.lists(completion_like.map(lambda v: json.dumps(v).encode()), max_size=4).map(
        lambda events: sse(events) + b"data: [DONE]\n\n"),
    st.binary(max_size=300),
    st.lists(st.sampled_from([b"event: error\n", b"data: {\n", b": c\n", b"\n", b"id: 1\n",
                              b"retry: x\n", b"data: [DONE]\n", b"\r\n", b"data:\xff\n"]),
             max_size=12).map(b"".join),
)
statuses = st.one_of(st.sampled_from([200, 201, 204, 301, 302, 304, 400, 401, 404, 429, 500,
                                      503]), st.integers(min_value=0, max_value=1200))
header_values = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
    st.sampled_from(["-1", "0", "99999999999999999999", "1e3", "chunked", "gzip", "deflate",
                     "br", "zstd", "identity, chunked", "text/event-stream",
                     "application/json; charset=nonsense", "text/html; charset=utf-16"]),
)
header_names = st.sampled_from([
    "Content-Length", "Transfer-Encoding", "Content-Type", "Content-Encoding", "Retry-After",
    "Retry-After-Ms", "X-Request-Id", "Location", "Connection", "Set-Cookie", "X-Junk",
])


@st.composite
def framed(draw: st.DrawFn, stream: bool) -> bytes:
    """An HTTP/1.1 answer with random status, headers and body framing."""
    status = draw(statuses)
    reason = draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12))
    body = draw(sse_bodies if stream else bodies)
    headers = draw(st.lists(st.tuples(header_names, header_values), max_size=5))
    framing = draw(st.sampled_from(["length", "chunked", "close", "wrong-length", "gzip",
                                    "bad-gzip", "deflate", "bad-chunks"]))
    head = [f"HTTP/1.1 {status} {reason}"]
    if framing == "gzip":
        body = gzip.compress(body)
        head.append("Content-Encoding: gzip")
    elif framing == "deflate":
        body = zlib.compress(body)
        head.append("Content-Encoding: deflate")
    elif framing == "bad-gzip":
        head.append("Content-Encoding: gzip")
    if framing == "chunked":
        head.append("Transfer-Encoding: chunked")
        body = (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n") if body else b"0\r\n\r\n"
    elif framing == "bad-chunks":
        head.append("Transfer-Encoding: chunked")
        body = b"zz\r\n" + body
    elif framing == "wrong-length":
        head.append(f"Content-Length: {len(body) + draw(st.integers(-5, 50))}")
    elif framing != "close":
        head.append(f"Content-Length: {len(body)}")
    head.append("Content-Type: " + ("text/event-stream" if stream else "application/json"))
    head += [f"{name}: {value}" for name, value in headers]
    raw_head = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace")
    return raw_head + body


def ok_head(body: bytes, stream: bool) -> bytes:
    kind = "text/event-stream" if stream else "application/json"
    return (f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n"
            .encode() + body)


# -- the properties -----------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True])
@SETTINGS
@given(data=st.binary(max_size=2000))
def test_random_bytes(
    loop_and_server: tuple[asyncio.AbstractEventLoop, OneShotServer], stream: bool, data: bytes
) -> None:
    check(loop_and_server, data, stream)


@SETTINGS
@given(body=bodies)
def test_random_json_in_a_2xx_answer(
    loop_and_server: tuple[asyncio.AbstractEventLoop, OneShotServer], body: bytes
) -> None:
    check(loop_and_server, ok_head(body, False), False)


@SETTINGS
@given(body=sse_bodies)
def test_random_events_in_a_stream(
    loop_and_server: tuple[asyncio.AbstractEventLoop, OneShotServer], body: bytes
) -> None:
    check(loop_and_server, ok_head(body, True), True)


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
@SETTINGS
@given(body=bodies)
def test_random_error_bodies(
    loop_and_server: tuple[asyncio.AbstractEventLoop, OneShotServer], status: int, body: bytes
) -> None:
    answer = (f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    check(loop_and_server, answer, False)


@pytest.mark.parametrize("stream", [False, True])
@SETTINGS
@given(data=st.data())
def test_random_http_framing(
    loop_and_server: tuple[asyncio.AbstractEventLoop, OneShotServer], stream: bool,
    data: st.DataObject,
) -> None:
    check(loop_and_server, data.draw(framed(stream)), stream)


@pytest.mark.parametrize("n", [1_000, 100_000])
@pytest.mark.parametrize("stream", [False, True])
def test_deeply_nested_json_is_a_typed_error(
    loop_and_server: tuple[asyncio.AbstractEventLoop, OneShotServer], n: int, stream: bool
) -> None:
    nested = ("[" * n + "]" * n).encode()
    error = ('{"error": ' + '{"a": ' * n + "1" + "}" * n + "}").encode()
    for body in (nested, error):
        check(loop_and_server, ok_head(sse([body]) if stream else body, stream), stream)
        answer = (f"HTTP/1.1 500 X\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
        check(loop_and_server, answer, False)


ODD_DATES = ["Mon, 01 Jan 99999 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
             "Thu, 01 Jan 1970 00:00:00 -9999", "1e309", "-0", "nan"]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(ms=st.one_of(st.none(), st.text(max_size=30)),
       after=st.one_of(st.none(), st.text(max_size=40), st.sampled_from(ODD_DATES)))
def test_any_retry_after_value_is_a_number_or_ignored(ms: str | None, after: str | None) -> None:
    headers = {k: v for k, v in (("retry-after-ms", ms), ("Retry-After", after)) if v is not None}
    value = retry_after_seconds(headers, 1_700_000_000.0)
    assert value is None or value >= 0


@pytest.mark.parametrize("response_format", [{"type": "json_object"},
                                             {"type": "object", "properties": {}}])
def test_structured_output_nested_too_deep_is_an_invalid_json_error(
    response_format: dict[str, object],
) -> None:
    text = "[" * 100_000 + "]" * 100_000
    completion = msgspec.json.decode(json.dumps({
        "id": "c", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
    }), type=ChatCompletion)
    with pytest.raises(InvalidJSONError):
        parse_completion(completion, resolve_response_format(response_format))

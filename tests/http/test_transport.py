"""The HTTP boundary (`Transport`, `Response`) directly: sending, reading bodies, giving the
connection back, no redirects, and every aiohttp failure turned into our errors with the right
timeout kind (connect, first_byte, idle, total). Against the emulator and throwaway servers."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import msgspec
import pytest
from aiohttp import web

from aiovertexchat import APIConnectionError, APITimeoutError
from aiovertexchat._http.transport import Transport, _map_errors
from aiovertexchat.emulator import Emulator
from tests.helpers import HELLO, MODEL, fault, serve_app

HEADERS = {"Authorization": "Bearer secret-token-123", "Content-Type": "application/json"}


def body(stream: bool = False, max_tokens: int = 4) -> bytes:
    return msgspec.json.encode(
        {"model": MODEL, "messages": HELLO, "max_tokens": max_tokens, "stream": stream}
    )


@pytest.fixture
async def transport() -> AsyncIterator[Transport]:
    transport = Transport()
    yield transport
    await transport.aclose()
    assert transport.connections_in_use == 0


def chat_url(emulator: Emulator) -> str:
    return emulator.base_url + "/chat/completions"


async def read_to_end(response: object) -> bytes:
    data = b""
    while piece := await response.read_chunk():  # type: ignore[attr-defined]
        data += piece
    return data


# -- sending and reading --------------------------------------------------------------------------
async def test_post_returns_at_the_headers_and_read_gives_the_connection_back(
    transport: Transport, emulator: Emulator
) -> None:
    assert transport.connections_in_use == 0  # no session yet
    response = await transport.post(chat_url(emulator), body(), HEADERS, total=10)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    answer = msgspec.json.decode(await response.read(1 << 20))
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"]["completion_tokens"] == 4
    assert transport.connections_in_use == 0
    assert emulator.stats.by_status == {200: 1}


async def test_a_stream_is_read_piece_by_piece_then_released(
    transport: Transport, emulator: Emulator
) -> None:
    response = await transport.post(chat_url(emulator), body(stream=True), HEADERS, total=10)
    assert response.headers["Content-Type"] == "text/event-stream"
    data = await read_to_end(response)
    assert data.endswith(b"data: [DONE]\n\n") and data.count(b"data: ") == 5
    assert await response.read_chunk() == b""  # the end stays the end
    response.release()
    assert transport.connections_in_use == 0


async def test_read_error_body_stops_at_64_kib_and_drops_the_connection(
    transport: Transport,
) -> None:
    async def huge_error(request: web.Request) -> web.Response:
        return web.Response(status=502, body=b"x" * 200_000)

    async with serve_app(huge_error) as url:
        response = await transport.post(url + "/v1/chat/completions", body(), HEADERS, total=10)
        assert response.status == 502
        assert len(await response.read_error_body()) == 64 * 1024
        assert response.closed
        assert transport.connections_in_use == 0


async def test_redirects_are_returned_not_followed(transport: Transport) -> None:
    reached: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        reached.append(request.path)
        return web.Response(text="{}")

    async with serve_app(elsewhere) as other:

        async def redirect(request: web.Request) -> web.Response:
            return web.Response(status=307, headers={"Location": other + "/v1/chat/completions"})

        async with serve_app(redirect) as here:
            response = await transport.post(here + "/v1/chat/completions", body(), HEADERS,
                                            total=10)
            assert response.status == 307
            assert response.headers["Location"] == other + "/v1/chat/completions"
            await response.read_error_body()
    assert reached == []


async def test_user_agent_is_sent(emulator: Emulator) -> None:
    seen: list[str | None] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(request.headers.get("User-Agent"))
        return web.Response(text="{}")

    async with serve_app(record) as url:
        for transport in (Transport(), Transport(user_agent="my-app/1.0")):
            try:
                response = await transport.post(url, body(), HEADERS, total=10)
                assert await response.read(1 << 20) == b"{}"
            finally:
                await transport.aclose()
                await transport.aclose()  # closing twice is harmless
    assert seen == ["aiovertexchat", "my-app/1.0"]


# -- failures: our errors, with the timeout kind -------------------------------------------------
async def test_first_byte_timeout_while_waiting_for_headers(
    transport: Transport, emulator: Emulator
) -> None:
    with pytest.raises(APITimeoutError) as info:
        await transport.post(
            chat_url(emulator), body(), {**HEADERS, **fault("stall:seconds=30")},
            total=10, first_byte=0.2,
        )
    assert info.value.kind == "first_byte"
    assert info.value.message == (
        f"POST {chat_url(emulator)}: no response headers within 0.2 s (first_byte timeout)"
    )
    assert transport.connections_in_use == 0


async def test_total_timeout_while_waiting_for_headers(
    transport: Transport, emulator: Emulator
) -> None:
    with pytest.raises(APITimeoutError) as info:
        await transport.post(
            chat_url(emulator), body(), {**HEADERS, **fault("stall:seconds=30")},
            total=0.2, first_byte=10,
        )
    assert info.value.kind == "total"
    assert info.value.message == f"POST {chat_url(emulator)}: total timeout"
    assert transport.connections_in_use == 0


async def test_total_timeout_while_reading_a_stream(
    transport: Transport, emulator: Emulator
) -> None:
    response = await transport.post(
        chat_url(emulator), body(stream=True), {**HEADERS, **fault("stall:seconds=30:after=1")},
        total=0.5,
    )
    assert response.status == 200
    with pytest.raises(APITimeoutError) as info:
        await read_to_end(response)
    assert info.value.kind == "total"
    assert info.value.message == "reading the stream: total timeout"
    response.close()
    assert transport.connections_in_use == 0


async def test_fail_makes_the_pending_read_raise_the_given_error(
    transport: Transport, held_emulator: Emulator
) -> None:
    response = await transport.post(chat_url(held_emulator), body(stream=True), HEADERS, total=10)
    assert (await response.read_chunk()).startswith(b"data: ")  # then 30 s until the next one
    assert transport.connections_in_use == 1  # held by the open body
    pending = asyncio.ensure_future(response.read_chunk())
    idle = APITimeoutError("no stream chunk for 0.1 s (idle timeout)", kind="idle")
    response.fail(idle)
    with pytest.raises(APITimeoutError) as info:
        await pending
    assert info.value is idle
    response.close()
    assert transport.connections_in_use == 0


async def test_refused_connection_names_the_url_and_not_the_token(transport: Transport) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    with pytest.raises(APIConnectionError) as info:
        await transport.post(url, body(), HEADERS, total=10, connect=5)
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.message.startswith(f"POST {url}: ClientConnectorError: ")
    assert "secret-token-123" not in str(info.value) and "secret-token-123" not in repr(info.value)


async def test_reset_before_headers_is_a_connection_error(
    transport: Transport, emulator: Emulator
) -> None:
    with pytest.raises(APIConnectionError) as info:
        await transport.post(
            chat_url(emulator), body(), {**HEADERS, **fault("reset-before-headers")}, total=10
        )
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.message.startswith(f"POST {chat_url(emulator)}: ")
    assert transport.connections_in_use == 0


async def test_reset_mid_stream_breaks_the_read(
    transport: Transport, emulator: Emulator
) -> None:
    response = await transport.post(
        chat_url(emulator), body(stream=True, max_tokens=10),
        {**HEADERS, **fault("reset-mid-stream:after=2")}, total=10,
    )
    with pytest.raises(APIConnectionError) as info:
        await read_to_end(response)
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.message.startswith("stream broke: ClientPayloadError: ")
    response.close()
    assert transport.connections_in_use == 0


@pytest.mark.parametrize(
    ("raised", "kind"),
    [
        (aiohttp.ConnectionTimeoutError(), "connect"),
        (aiohttp.SocketTimeoutError(), "idle"),
        (aiohttp.ServerTimeoutError(), "total"),
        (asyncio.TimeoutError(), "total"),
    ],
)
def test_timeouts_map_to_their_kind(raised: BaseException, kind: str) -> None:
    with pytest.raises(APITimeoutError) as info, _map_errors("POST u", "total"):
        raise raised
    assert info.value.kind == kind
    assert info.value.message == f"POST u: {kind} timeout"
    # The cause is a redacted stand-in that keeps the original's type name (see _redact).
    assert type(info.value.__cause__).__name__ == "RedactedError"
    assert info.value.__cause__.type_name.endswith(type(raised).__name__)  # type: ignore[attr-defined]


def test_client_errors_map_to_connection_errors() -> None:
    with pytest.raises(APIConnectionError) as info, _map_errors("POST u", "total"):
        raise aiohttp.ServerDisconnectedError()
    assert not isinstance(info.value, APITimeoutError)
    assert info.value.message == "POST u: ServerDisconnectedError: Server disconnected"

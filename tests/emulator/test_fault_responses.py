"""Every emulator fault as the bytes a client receives: error bodies, resets, stalls, damaged
streams, and which requests a fault hits."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec
import pytest

from aiovertexchat.emulator import Emulator, EmulatorConfig, Fault, google_error
from aiovertexchat.emulator.wire import DONE_EVENT
from tests.helpers import (
    AUTH,
    CHAT,
    chat_body,
    error_of,
    fault,
    frozen_emulator,
    post,
    read_events,
    same_but_id,
)


async def _raw_exchange(
    emu: Emulator, payload: Any, headers: dict[str, str] | None = None
) -> bytes:
    """The whole HTTP/1.1 response, framing included, read over a plain socket."""
    body = msgspec.json.encode(payload)
    head = "".join(
        f"{k}: {v}\r\n"
        for k, v in {
            **AUTH,
            **(headers or {}),
            "Host": "emulator",
            "Content-Type": "application/json",
            "Content-Length": str(len(body)),
            "Connection": "close",
        }.items()
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
    try:
        writer.write(f"POST {CHAT} HTTP/1.1\r\n{head}\r\n".encode() + body)
        return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


def _dechunk(raw: bytes) -> list[bytes]:
    """Transfer-Encoding chunks of a raw HTTP/1.1 response."""
    _, _, rest = raw.partition(b"\r\n\r\n")
    pieces: list[bytes] = []
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return pieces
        pieces.append(rest[:size])
        assert rest[size : size + 2] == b"\r\n"
        rest = rest[size + 2 :]


class TestErrorFaults:
    @pytest.mark.parametrize(
        ("spec", "status", "google_status"),
        [
            ("429", 429, "RESOURCE_EXHAUSTED"),
            ("500", 500, "INTERNAL"),
            ("503", 503, "UNAVAILABLE"),
            ("504", 504, "DEADLINE_EXCEEDED"),
            ("403", 403, "PERMISSION_DENIED"),
            ("400", 400, "INVALID_ARGUMENT"),
        ],
    )
    async def test_status_faults(
        self, emu: Emulator, http: aiohttp.ClientSession, spec: str, status: int, google_status: str
    ) -> None:
        reply = await post(http, emu, chat_body(stream=True), headers=fault(spec))
        assert reply.status == status
        assert error_of(reply)["status"] == google_status
        assert "Retry-After" not in reply.headers
        assert emu.stats.faults == {spec: 1}

    async def test_429_shape_and_retry_after(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        reply = await post(http, emu, chat_body(), headers=fault("429:retry-after=2"))
        assert reply.headers["Retry-After"] == "2"
        assert reply.json() == google_error(429, "RESOURCE_EXHAUSTED", None, "RATE_LIMIT_EXCEEDED")
        assert reply.json()["error"]["message"].startswith("Resource exhausted.")
        ms = await post(http, emu, chat_body(), headers=fault("429:retry-after-ms=1500"))
        assert ms.headers["retry-after-ms"] == "1500" and "Retry-After" not in ms.headers

    async def test_html_error(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await post(http, emu, chat_body(), headers=fault("html-error:code=502"))
        assert reply.status == 502
        assert reply.headers["Content-Type"] == "text/html; charset=UTF-8"
        assert reply.raw.startswith(b"<!DOCTYPE html>")
        assert b"<title>Error 502 (Server Error)!!1</title>" in reply.raw

    async def test_list_error(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await post(http, emu, chat_body(), headers=fault("list-error:code=429"))
        assert reply.status == 429
        assert reply.json() == [
            google_error(429, "RESOURCE_EXHAUSTED", None, "RATE_LIMIT_EXCEEDED")
        ]

    async def test_text_error(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await post(http, emu, chat_body(), headers=fault("text-error:code=503"))
        assert (reply.status, reply.headers["Content-Type"]) == (503, "text/plain")
        assert reply.raw == (
            b"upstream connect error or disconnect/reset before headers. reset reason: overflow"
        )

    async def test_empty_error(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await post(http, emu, chat_body(), headers=fault("empty-error:code=500"))
        assert (reply.status, reply.raw) == (500, b"")
        assert reply.headers["Content-Length"] == "0"

    async def test_reason_parameter(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await post(http, emu, chat_body(), headers=fault("503:reason=MODEL_OVERLOADED"))
        assert error_of(reply)["details"][0]["reason"] == "MODEL_OVERLOADED"

    async def test_bad_fault_header_is_400(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        reply = await post(http, emu, chat_body(), headers=fault("teapot:after=1"))
        assert reply.status == 400 and "teapot" in error_of(reply)["message"]
        assert emu.stats.faults == {}


class TestConnectionFaults:
    async def test_reset_before_headers(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        with pytest.raises(aiohttp.ClientConnectionError):
            await post(http, emu, chat_body(stream=True), headers=fault("reset-before-headers"))
        assert emu.stats.faults == {"reset-before-headers": 1}
        assert emu.stats.by_status == {}
        assert (await post(http, emu, chat_body())).status == 200  # the emulator carries on

    async def test_reset_mid_stream(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        headers = {**AUTH, **fault("reset-mid-stream:after=3")}
        async with http.post(emu.url + CHAT, json=chat_body(stream=True), headers=headers) as resp:
            assert resp.status == 200
            events = await read_events(resp, 3)
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.content.read()
        assert [msgspec.json.decode(e[6:])["choices"][0]["finish_reason"] for e in events] == [
            None
        ] * 3

    async def test_reset_mid_body_non_streaming(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        with pytest.raises(aiohttp.ClientPayloadError):
            await post(http, emu, chat_body(), headers=fault("reset-mid-stream"))

    async def test_stall_before_headers(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        request = asyncio.ensure_future(
            http.post(emu.url + CHAT, json=chat_body(), headers={**AUTH, **fault("stall")})
        )
        done, _ = await asyncio.wait([request], timeout=0.2)
        assert not done  # an hour-long stall: no headers yet
        await emu.close()  # closing does not wait for the stall
        with pytest.raises(aiohttp.ClientConnectionError):
            await request
        assert not emu.state.tasks

    async def test_stall_mid_stream(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        headers = {**AUTH, **fault("stall:seconds=3600:after=2")}
        async with http.post(emu.url + CHAT, json=chat_body(stream=True), headers=headers) as resp:
            await read_events(resp, 2)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(resp.content.readline(), 0.2)
            assert emu.stats.concurrency == 1

    async def test_stall_after_headers_non_streaming(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        headers = {**AUTH, **fault("stall:after=0")}
        async with http.post(emu.url + CHAT, json=chat_body(), headers=headers) as resp:
            assert resp.status == 200
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(resp.content.read(1), 0.2)

    async def test_zero_stall_changes_nothing(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        plain = await post(http, emu, chat_body(stream=True))
        stalled = await post(
            http,
            emu,
            chat_body(stream=True),
            headers=fault("stall:seconds=0:after=2, stall:seconds=0"),
        )
        assert same_but_id(plain.raw, stalled.raw)


class TestStreamFaults:
    async def test_malformed_chunk(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        plain = await post(http, emu, chat_body(stream=True, max_tokens=4))
        reply = await post(
            http, emu, chat_body(stream=True, max_tokens=4),
            headers=fault("malformed-chunk:after=2"),
        )
        events = reply.events
        with pytest.raises(msgspec.DecodeError):
            msgspec.json.decode(events[2])
        # The broken event is extra: everything else still arrives, in order.
        assert same_but_id(b"\n\n".join(events[:2] + events[3:]), b"\n\n".join(plain.events))

    async def test_error_in_stream(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await post(
            http, emu, chat_body(stream=True), headers=fault("error-in-stream:after=2:code=503")
        )
        assert reply.status == 200
        events = reply.events
        assert len(events) == 3
        assert msgspec.json.decode(events[2]) == {
            "error": {
                "code": 503,
                "message": "The service is currently unavailable.",
                "status": "UNAVAILABLE",
            }
        }

    async def test_error_in_stream_non_streaming_fails_whole(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        reply = await post(http, emu, chat_body(), headers=fault("error-in-stream:code=504"))
        assert reply.status == 504 and error_of(reply)["status"] == "DEADLINE_EXCEEDED"

    async def test_truncate(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await post(http, emu, chat_body(stream=True), headers=fault("truncate:after=3"))
        assert reply.status == 200
        assert b"[DONE]" not in reply.raw
        chunks = reply.chunks
        assert len(chunks) == 3
        assert all(c["choices"][0]["finish_reason"] is None for c in chunks)

    async def test_truncate_past_the_end_drops_only_done(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        body = chat_body(stream=True, max_tokens=3, stream_options={"include_usage": True})
        plain = await post(http, emu, body)
        cut = await post(http, emu, body, headers=fault("truncate:after=100"))
        assert plain.raw.endswith(DONE_EVENT)
        assert same_but_id(cut.raw, plain.raw[: -len(DONE_EVENT)])

    async def test_truncate_and_malformed_non_streaming(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        plain = (await post(http, emu, chat_body())).raw
        truncated = await post(http, emu, chat_body(), headers=fault("truncate"))
        malformed = await post(http, emu, chat_body(), headers=fault("malformed-chunk"))
        assert truncated.status == malformed.status == 200
        assert same_but_id(truncated.raw, plain[: len(plain) // 2])
        assert same_but_id(malformed.raw, plain[:-1])  # whole HTTP body, JSON unclosed
        for reply in (truncated, malformed):
            with pytest.raises(msgspec.DecodeError):
                reply.json()

    async def test_trickle_stream(self, emu: Emulator) -> None:
        body = chat_body("[[tokens=12]]", stream=True)
        plain = _dechunk(await _raw_exchange(emu, body))
        pieces = _dechunk(await _raw_exchange(emu, body, fault("trickle:bytes=7")))
        assert all(len(p) <= 7 for p in pieces)
        assert len(pieces) >= len(b"".join(pieces)) / 7
        assert same_but_id(b"".join(pieces), b"".join(plain))
        # Pieces split multi-byte characters too, somewhere in a long enough answer.
        long = await _raw_exchange(
            emu, chat_body("[[tokens=400]]", stream=True), fault("trickle:bytes=5")
        )
        assert any(_splits_utf8(p) for p in _dechunk(long))

    async def test_trickle_body(self, emu: Emulator) -> None:
        pieces = _dechunk(await _raw_exchange(emu, chat_body(), fault("trickle:bytes=7")))
        assert all(len(p) <= 7 for p in pieces)
        assert len(pieces) >= len(b"".join(pieces)) / 7
        assert msgspec.json.decode(b"".join(pieces))["usage"]["completion_tokens"] == 32

    async def test_faults_combine_in_order(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        reply = await post(
            http, emu, chat_body(stream=True), headers=fault("trickle:bytes=3, truncate:after=2")
        )
        assert len(reply.chunks) == 2
        first = await post(http, emu, chat_body(), headers=fault("stall:seconds=0, 503, 429"))
        assert first.status == 503
        assert emu.stats.faults == {"trickle": 1, "truncate": 1, "stall": 1, "503": 1, "429": 1}


def _splits_utf8(piece: bytes) -> bool:
    try:
        piece.decode()
    except UnicodeDecodeError:
        return True
    return False


class TestFaultSelection:
    async def test_fault_once_then_success(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        async def status(key: str) -> int:
            headers = {"X-Emulator-Fault-Once": key}
            return (await post(http, emu, chat_body(), headers=headers)).status

        assert [await status("a=503") for _ in range(3)] == [503, 200, 200]
        assert [await status("b=429*2") for _ in range(3)] == [429, 429, 200]
        assert await status("c=500") == 500  # a new key fires again
        assert emu.stats.faults == {"503": 1, "429": 2, "500": 1}

    async def test_config_faults_are_deterministic(self, http: aiohttp.ClientSession) -> None:
        def config() -> EmulatorConfig:
            return EmulatorConfig(
                seed=3, faults=(Fault("error", code=503), Fault("text-error")), fault_rate=0.5
            )

        async def statuses(emu: Emulator) -> list[int]:
            return [(await post(http, emu, chat_body())).status for _ in range(30)]

        async with frozen_emulator(config()) as one, frozen_emulator(config()) as two:
            first = await statuses(one)
            assert first == await statuses(two)
            assert set(first) == {200, 503}
            assert one.stats.faults["503"] + one.stats.faults["text-error"] == first.count(503)

    async def test_rate_one_hits_every_request(self, http: aiohttp.ClientSession) -> None:
        config = EmulatorConfig(faults=(Fault.parse("truncate:after=1"),), fault_rate=1.0)
        async with frozen_emulator(config) as emu:
            for _ in range(3):
                assert len((await post(http, emu, chat_body(stream=True))).chunks) == 1
            # A header fault replaces the drawn one.
            assert (await post(http, emu, chat_body(), headers=fault("500"))).status == 500

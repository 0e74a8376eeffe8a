"""The emulator's answers over loopback HTTP, seen with plain aiohttp."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from aiovertexchat.emulator import Emulator, EmulatorConfig
from aiovertexchat.emulator.content import (
    VOCABULARY,
)
from tests.helpers import (
    CHAT,
    CREATED,
    chat_body,
    frozen_emulator,
    post,
    same_but_id,
)


class TestAnswers:
    async def test_non_streaming(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await post(http, emu, chat_body())
        assert reply.status == 200
        assert reply.headers["Content-Type"] == "application/json; charset=UTF-8"
        assert reply.headers["x-request-id"] == "emu-00000001"
        body = reply.json()
        assert body["id"] == "chatcmpl-emu00000001"
        assert (body["object"], body["created"], body["model"]) == (
            "chat.completion",
            CREATED,
            "emu-model",
        )
        (choice,) = body["choices"]
        assert choice["index"] == 0 and choice["finish_reason"] == "stop"
        assert choice["message"]["role"] == "assistant"
        answer = choice["message"]["content"].split(" ")
        assert len(answer) == 32 and set(answer) <= set(VOCABULARY)
        assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 32, "total_tokens": 34}

    async def test_streaming_matches_non_streaming(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        whole = (await post(http, emu, chat_body())).json()["choices"][0]["message"]["content"]
        reply = await post(http, emu, chat_body(stream=True))
        assert reply.status == 200
        assert reply.headers["Content-Type"] == "text/event-stream"
        assert reply.events[-1] == b"[DONE]"
        chunks = reply.chunks
        assert len(chunks) == 32  # one token per chunk, finish_reason on the last, no usage
        assert chunks[0]["choices"][0]["delta"] == {
            "role": "assistant",
            "content": whole.split()[0],
        }
        assert all(set(c["choices"][0]["delta"]) == {"content"} for c in chunks[1:])
        assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 31 + ["stop"]
        assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == whole
        assert {c["id"] for c in chunks} == {"chatcmpl-emu00000002"}
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)

    @pytest.mark.parametrize(
        ("mode", "asked", "expected"),
        [
            ("on_request", True, True),
            ("on_request", False, False),
            ("always", False, True),
            ("never", True, False),
        ],
    )
    async def test_usage_in_stream(
        self, http: aiohttp.ClientSession, mode: Any, asked: bool, expected: bool
    ) -> None:
        async with frozen_emulator(EmulatorConfig(usage_in_stream=mode)) as emu:
            options: dict[str, Any] = {"stream_options": {"include_usage": True}} if asked else {}
            chunks = (await post(http, emu, chat_body(stream=True, max_tokens=4, **options))).chunks
        if expected:
            assert chunks[-1]["choices"] == []
            assert chunks[-1]["usage"] == {
                "prompt_tokens": 2,
                "completion_tokens": 4,
                "total_tokens": 6,
            }
            assert len(chunks) == 5
        else:
            assert len(chunks) == 4 and all("usage" not in c for c in chunks)

    async def test_done_can_be_left_out(self, http: aiohttp.ClientSession) -> None:
        async with frozen_emulator(EmulatorConfig(send_done=False)) as emu:
            reply = await post(http, emu, chat_body(stream=True, max_tokens=3))
        assert reply.events[-1] != b"[DONE]" and len(reply.chunks) == 3

    async def test_n_choices_stream_interleaved(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        body = chat_body(n=3, max_tokens=4)
        whole = (await post(http, emu, body)).json()
        expected = {c["index"]: c["message"]["content"] for c in whole["choices"]}
        assert len(set(expected.values())) == 3
        chunks = (await post(http, emu, {**body, "stream": True})).chunks
        assert [c["choices"][0]["index"] for c in chunks] == [0, 1, 2] * 4
        streamed: dict[int, str] = {}
        for c in chunks:
            (choice,) = c["choices"]
            streamed[choice["index"]] = (
                streamed.get(choice["index"], "") + choice["delta"]["content"]
            )
        assert streamed == expected
        assert whole["usage"]["completion_tokens"] == 12

    async def test_stop_and_limits(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        full = (await post(http, emu, chat_body())).json()["choices"][0]["message"]["content"]
        stop = full.split(" ")[5]
        reply = (await post(http, emu, chat_body(stop=stop))).json()
        assert reply["choices"][0]["message"]["content"] == full[: full.index(stop)]
        assert reply["choices"][0]["finish_reason"] == "stop"
        # One token per chunk sent, the last possibly cut short by the stop sequence.
        assert reply["usage"]["completion_tokens"] == len(full[: full.index(stop)].split(" "))

        limited = (await post(http, emu, chat_body(max_tokens=7))).json()
        assert limited["choices"][0]["finish_reason"] == "length"
        assert limited["usage"]["completion_tokens"] == 7
        assert full.startswith(limited["choices"][0]["message"]["content"])

        hooked = await post(http, emu, chat_body("[[tokens=1000]] please", stream=True))
        assert len(hooked.chunks) == 1000

    async def test_deterministic_over_http(self, http: aiohttp.ClientSession) -> None:
        async def answer(emu: Emulator, **fields: Any) -> str:
            reply = await post(http, emu, chat_body(**fields))
            return str(reply.json()["choices"][0]["message"]["content"])

        async with (
            frozen_emulator() as one,
            frozen_emulator() as two,
            frozen_emulator(EmulatorConfig(seed=5)) as other,
        ):
            first = await answer(one)
            assert first == await answer(one) == await answer(two)
            assert first != await answer(one, seed=1)
            assert first != await answer(other)
            # Emulators with equal settings send equal bytes, ids and all.
            a = await post(http, one, chat_body(stream=True))
            b = await post(http, two, chat_body(stream=True))
            assert same_but_id(a.raw, b.raw)

    async def test_paced_stream_sends_the_same_bytes(self, http: aiohttp.ClientSession) -> None:
        paced = EmulatorConfig(ttft=0.001, itl=0.0005)
        async with frozen_emulator() as fast, frozen_emulator(paced) as slow:
            body = chat_body(stream=True, max_tokens=6, n=2)
            a, b = await post(http, fast, body), await post(http, slow, body)
            assert same_but_id(a.raw, b.raw)
            assert (await post(http, slow, chat_body(max_tokens=3))).status == 200

    async def test_config_changes_apply_to_the_next_request(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        emu.config.completion_tokens = 5
        assert (await post(http, emu, chat_body())).json()["usage"]["completion_tokens"] == 5
        emu.config.require_auth = False
        async with http.post(emu.url + CHAT, json=chat_body()) as resp:
            assert resp.status == 200

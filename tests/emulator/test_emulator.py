"""The emulator: its sans-IO parts directly, then its wire behaviour over loopback with aiohttp."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from aiovertexchat.emulator import Emulator, EmulatorConfig, Fault, google_error, serve
from aiovertexchat.emulator.capacity import CapacityGate
from aiovertexchat.emulator.content import (
    MAX_ANSWER_TOKENS,
    VOCABULARY,
    cut_at_stop,
    plan_completion,
    words,
)
from aiovertexchat.emulator.faults import FaultInjector, parse_fault_headers
from aiovertexchat.emulator.request import ChatRequest, Message, RequestError, Route, parse_request
from aiovertexchat.emulator.wire import DONE_EVENT, StreamEncoder

AUTH = {"Authorization": "Bearer test-token"}
CHAT = "/v1/chat/completions"
VERTEX = "/v1beta1/projects/p/locations/us-central1/endpoints/openapi/chat/completions"
CREATED = 1_700_000_000


# ----------------------------------------------------------------------------- sans-IO parts


class TestFaultGrammar:
    @pytest.mark.parametrize(
        ("spec", "expected"),
        [
            ("429", Fault("error", code=429)),
            ("429:retry-after=2", Fault("error", code=429, retry_after=2.0)),
            ("429:retry-after-ms=1500", Fault("error", code=429, retry_after_ms=1500)),
            ("500", Fault("error", code=500)),
            ("error", Fault("error", code=500)),
            ("reset-before-headers", Fault("reset-before-headers")),
            ("reset-mid-stream:after=3", Fault("reset-mid-stream", after=3)),
            ("reset-mid-stream", Fault("reset-mid-stream", after=1)),
            ("stall:seconds=5", Fault("stall", seconds=5.0)),
            ("stall:seconds=0.5:after=2", Fault("stall", seconds=0.5, after=2)),
            ("malformed-chunk:after=2", Fault("malformed-chunk", after=2)),
            ("error-in-stream:after=2:code=503", Fault("error-in-stream", after=2, code=503)),
            ("html-error:code=502", Fault("html-error", code=502)),
            ("list-error:code=429", Fault("list-error", code=429)),
            ("text-error:code=503", Fault("text-error", code=503)),
            ("empty-error:code=500", Fault("empty-error", code=500)),
            ("trickle:bytes=7", Fault("trickle", size=7)),
            ("truncate:after=3", Fault("truncate", after=3)),
            (" 503 : reason=BUSY ", Fault("error", code=503, reason="BUSY")),
        ],
    )
    def test_parse(self, spec: str, expected: Fault) -> None:
        assert Fault.parse(spec) == expected

    def test_canonical_string(self) -> None:
        assert str(Fault.parse("429:retry-after=2")) == "429:retry-after=2"
        assert str(Fault.parse("trickle:bytes=7")) == "trickle:bytes=7"
        assert str(Fault.parse("stall")) == "stall:seconds=3600"
        assert Fault.parse("error-in-stream").name == "error-in-stream"
        assert Fault.parse("504").name == "504"

    @pytest.mark.parametrize(
        ("spec", "complaint"),
        [
            ("teapot", "unknown fault kind"),
            ("429:after=2", "takes no 'after'"),
            ("truncate:code=500", "takes no 'code'"),
            ("stall:minutes=2", "unknown fault parameter"),
            ("truncate:after", "must be name=value"),
            ("truncate:after=x", "not an integer"),
            ("truncate:after=-1", "after must be >= 0"),
            ("trickle:bytes=0", "bytes must be >= 1"),
            ("302", "400..599"),
            ("truncate:after=1:after=2", "given twice"),
            ("429:reason=not a reason", "reason must be"),
        ],
    )
    def test_rejects(self, spec: str, complaint: str) -> None:
        with pytest.raises(ValueError, match=re.escape(complaint)):
            Fault.parse(spec)

    @given(
        st.one_of(
            st.builds(
                Fault,
                st.sampled_from(["error", "list-error"]),
                code=st.integers(400, 599),
                retry_after=st.none() | st.integers(0, 10**6).map(float),
                retry_after_ms=st.none() | st.integers(0, 10**9),
                reason=st.none() | st.from_regex(r"[A-Z_0-9]{1,20}", fullmatch=True),
            ),
            st.builds(
                Fault,
                st.sampled_from(["reset-mid-stream", "malformed-chunk", "truncate"]),
                after=st.none() | st.integers(0, 10**6),
            ),
            st.builds(
                Fault,
                st.just("stall"),
                seconds=st.none() | st.floats(0, 1e6, allow_nan=False),
                after=st.none() | st.integers(0, 10**6),
            ),
            st.builds(
                Fault,
                st.just("trickle"),
                size=st.integers(1, 10**6),
                seconds=st.none() | st.floats(0, 10, allow_nan=False),
            ),
        )
    )
    def test_string_round_trip(self, fault: Fault) -> None:
        assert Fault.parse(str(fault)) == fault

    def test_headers(self) -> None:
        requested = parse_fault_headers("503, trickle:bytes=3", "k1=429*2, k2=reset-before-headers")
        assert requested.faults == (Fault("error", code=503), Fault("trickle", size=3))
        assert requested.once == (
            ("k1", Fault("error", code=429), 2),
            ("k2", Fault("reset-before-headers"), 1),
        )
        with pytest.raises(ValueError, match="key=spec"):
            parse_fault_headers(None, "503")
        with pytest.raises(ValueError, match="repeat count"):
            parse_fault_headers(None, "k=503*x")


class TestFaultInjector:
    def test_once_keys_fire_the_given_number_of_times(self) -> None:
        injector = FaultInjector(0)
        config = EmulatorConfig()
        requested = parse_fault_headers(None, "a=503*2")
        fired = [injector.choose(requested, config) for _ in range(4)]
        assert fired == [[Fault("error", code=503)]] * 2 + [[]] * 2

    def test_random_faults_depend_only_on_seed_and_order(self) -> None:
        config = EmulatorConfig(
            faults=(Fault("error", code=500), Fault("truncate")), fault_rate=0.5
        )

        def run(seed: int, header_on: int | None = None) -> list[list[Fault]]:
            injector = FaultInjector(seed)
            out = []
            for i in range(40):
                header = "429" if i == header_on else None
                out.append(injector.choose(parse_fault_headers(header, None), config))
            return out

        first = run(7)
        assert first == run(7)
        assert first != run(8)
        assert 5 < sum(1 for f in first if f) < 35
        assert {f[0].kind for f in first if f} == {"error", "truncate"}
        # A header on request 3 replaces its fault without shifting the later ones.
        with_header = run(7, header_on=3)
        assert with_header[3] == [Fault("error", code=429)]
        assert with_header[4:] == first[4:]


class TestCapacityGate:
    def test_concurrency_limit(self) -> None:
        gate = CapacityGate(lambda: 0.0)
        assert gate.admit(1, 2, None)
        assert not gate.admit(2, 2, None)
        assert gate.admit(10**6, None, None)

    def test_sliding_window(self) -> None:
        now = [1000.0]
        gate = CapacityGate(lambda: now[0])
        assert gate.admit(0, None, 2)
        now[0] += 30
        assert gate.admit(0, None, 2)
        assert not gate.admit(0, None, 2)
        now[0] += 30  # the first admission leaves the window; the refusal never entered it
        assert gate.admit(0, None, 2)
        assert not gate.admit(0, None, 2)


def _request(text: str = "hello there", **fields: Any) -> ChatRequest:
    return ChatRequest(messages=[Message("user", text)], **fields)


class TestContent:
    def test_default_answer(self) -> None:
        plan = plan_completion(_request(), seed=0, default_tokens=32, model="m")
        (choice,) = plan.choices
        assert len(choice.pieces) == 32
        assert choice.finish_reason == "stop"
        assert choice.text.split(" ") == [p.strip() for p in choice.pieces]
        assert all(p.startswith(" ") for p in choice.pieces[1:])
        assert all(w in VOCABULARY for w in choice.text.split(" "))
        assert (plan.prompt_tokens, plan.completion_tokens, plan.total_tokens) == (2, 32, 34)

    def test_same_request_same_answer_and_seeds_change_it(self) -> None:
        def text(request: ChatRequest, seed: int = 0) -> str:
            return plan_completion(request, seed=seed, default_tokens=16, model="m").choices[0].text

        assert text(_request()) == text(_request())
        assert text(_request()) != text(_request(seed=1))
        assert text(_request()) != text(_request(), seed=1)
        assert text(_request()) != text(_request("hello there!"))

    def test_choices_are_seeded_apart(self) -> None:
        plan = plan_completion(_request(n=3), seed=0, default_tokens=16, model="m")
        assert [c.index for c in plan.choices] == [0, 1, 2]
        assert len({c.text for c in plan.choices}) == 3
        assert plan.completion_tokens == 48

    def test_limits_and_hook(self) -> None:
        def shape(request: ChatRequest) -> tuple[int, str]:
            (c,) = plan_completion(request, seed=0, default_tokens=32, model="m").choices
            return len(c.pieces), c.finish_reason

        assert shape(_request(max_tokens=5)) == (5, "length")
        assert shape(_request(max_completion_tokens=4)) == (4, "length")
        assert shape(_request(max_tokens=9, max_completion_tokens=6)) == (6, "length")
        assert shape(_request("go [[tokens=3]]")) == (3, "stop")
        assert shape(_request("go [[tokens=0]]")) == (0, "stop")
        assert shape(_request("go [[tokens=300]]", max_tokens=300)) == (300, "stop")
        assert shape(_request("go [[tokens=300]]", max_tokens=10)) == (10, "length")
        # Only the last user message carries the hook.
        request = ChatRequest(
            messages=[
                Message("user", "[[tokens=2]]"),
                Message("assistant", "ok"),
                Message("user", "again"),
            ]
        )
        assert shape(request) == (32, "stop")

    def test_answers_are_capped(self) -> None:
        request = _request(f"[[tokens={MAX_ANSWER_TOKENS + 1}]]")
        (choice,) = plan_completion(request, seed=0, default_tokens=1, model="m").choices
        assert (len(choice.pieces), choice.finish_reason) == (MAX_ANSWER_TOKENS, "length")

    def test_prompt_tokens_count_text_parts_only(self) -> None:
        request = ChatRequest(
            messages=[
                Message("system", "be brief"),
                Message(
                    "user",
                    [
                        {"type": "text", "text": "what is  this\nthing"},
                        {"type": "image_url", "image_url": {"url": "gs://b/cat.png"}},
                    ],
                ),
                Message("assistant", None),
            ]
        )
        assert plan_completion(request, seed=0, default_tokens=1, model="m").prompt_tokens == 6

    def test_stop_truncates_before_first_occurrence(self) -> None:
        full = plan_completion(_request(), seed=0, default_tokens=32, model="m").choices[0].text
        stop_word = full.split(" ")[10]
        (choice,) = plan_completion(
            _request(stop=["zzz-never", stop_word]), seed=0, default_tokens=32, model="m"
        ).choices
        assert choice.text == full[: full.index(stop_word)]
        assert choice.finish_reason == "stop"

    @given(
        st.lists(st.sampled_from(VOCABULARY), max_size=30),
        st.lists(st.text(min_size=1, max_size=6), max_size=3),
    )
    def test_cut_at_stop_property(self, ws: list[str], stops: list[str]) -> None:
        pieces = [w if i == 0 else " " + w for i, w in enumerate(ws)]
        text = "".join(pieces)
        cut = cut_at_stop(pieces, stops)
        hits = [text.find(s) for s in stops if s in text]
        if not hits:
            assert cut is None
            return
        assert cut is not None
        assert "".join(cut) == text[: min(hits)]
        assert all(cut)  # no empty chunk is ever planned
        assert len(cut) <= len(pieces)

    def test_words_extend(self) -> None:
        assert words(b"k", 50)[:20] == words(b"k", 20)
        assert words(b"k", 0) == []


class TestRequestChecks:
    def test_unknown_parameters_are_ignored(self) -> None:
        request = parse_request(
            b'{"messages":[{"role":"user","content":"hi","name":"x"}],"temperatur":9,'
            b'"extra_body":{"google":{}},"tools":[]}',
            Route.PLAIN,
        )
        assert request.messages == [Message("user", "hi")]

    @pytest.mark.parametrize(
        ("body", "complaint"),
        [
            (b"", "empty"),
            (b"{", "Invalid JSON payload"),
            (b"[]", "Expected `object`"),
            (b"{}", "missing required field `messages`"),
            (b'{"messages":[]}', "length >= 1"),
            (b'{"messages":[{"content":"x"}]}', "`role`"),
            (b'{"messages":[{"role":"user"}],"max_tokens":"9"}', "$.max_tokens"),
            (b'{"messages":[{"role":"user"}],"max_tokens":0}', "$.max_tokens"),
            (b'{"messages":[{"role":"user"}],"n":9}', "$.n"),
            (b'{"messages":[{"role":"user"}],"stop":3}', "$.stop"),
        ],
    )
    def test_rejects(self, body: bytes, complaint: str) -> None:
        with pytest.raises(RequestError, match=re.escape(complaint)):
            parse_request(body, Route.PLAIN)

    @pytest.mark.parametrize("model", [None, "gemini-2.5-flash", "google/", "meta/llama"])
    def test_managed_endpoint_wants_google_models(self, model: str | None) -> None:
        body = msgspec.json.encode({"messages": [{"role": "user"}], "model": model})
        with pytest.raises(RequestError, match=re.escape("google/{MODEL_ID}")):
            parse_request(body, Route.MANAGED)
        assert parse_request(body, Route.DEPLOYED).model == model


class TestWire:
    @given(
        st.lists(
            st.tuples(
                st.lists(st.text(max_size=5), max_size=6), st.sampled_from(["stop", "length"])
            ),
            min_size=1,
            max_size=3,
        ),
        st.booleans(),
    )
    def test_events_reassemble_to_the_plan(
        self, choices: list[tuple[list[str], str]], include_usage: bool
    ) -> None:
        plan = plan_completion(_request(n=len(choices)), seed=0, default_tokens=0, model="m/x")
        for choice, (pieces, finish) in zip(plan.choices, choices, strict=True):
            choice.pieces, choice.finish_reason = [p for p in pieces if p], finish
        events = list(
            StreamEncoder('chatcmpl-"q"', 5, plan.model).events(plan, include_usage=include_usage)
        )
        texts: dict[int, str] = {}
        finishes: dict[int, str] = {}
        for event in events:
            assert event.startswith(b"data: ") and event.endswith(b"\n\n")
            chunk = msgspec.json.decode(event[6:])
            assert (chunk["id"], chunk["object"], chunk["created"], chunk["model"]) == (
                'chatcmpl-"q"',
                "chat.completion.chunk",
                5,
                "m/x",
            )
            if not chunk["choices"]:
                assert chunk["usage"]["completion_tokens"] == plan.completion_tokens
                continue
            (c,) = chunk["choices"]
            first = c["index"] not in texts
            assert ("role" in c["delta"]) == first
            assert c["index"] not in finishes
            texts[c["index"]] = texts.get(c["index"], "") + c["delta"]["content"]
            if c["finish_reason"] is not None:
                finishes[c["index"]] = c["finish_reason"]
        assert texts == {c.index: c.text for c in plan.choices}
        assert finishes == {c.index: c.finish_reason for c in plan.choices}
        assert (b'"usage"' in events[-1]) == include_usage

    def test_google_error_shape(self) -> None:
        assert google_error(429, "RESOURCE_EXHAUSTED", "busy", "RATE_LIMIT_EXCEEDED") == {
            "error": {
                "code": 429,
                "message": "busy",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "RATE_LIMIT_EXCEEDED",
                        "domain": "googleapis.com",
                    }
                ],
            }
        }
        assert google_error(404, "NOT_FOUND", "gone") == {
            "error": {"code": 404, "message": "gone", "status": "NOT_FOUND"}
        }
        assert google_error(503)["error"]["status"] == "UNAVAILABLE"


# ----------------------------------------------------------------------------- over the wire


def _frozen(config: EmulatorConfig | None = None, **kwargs: Any) -> Emulator:
    return Emulator(config or EmulatorConfig(), wall_clock=lambda: CREATED, **kwargs)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with _frozen() as emulator:
        yield emulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _body(text: str = "hello there", **fields: Any) -> dict[str, Any]:
    return {"model": "emu-model", "messages": [{"role": "user", "content": text}], **fields}


@dataclass
class Reply:
    status: int
    headers: CIMultiDict[str]
    raw: bytes

    def json(self) -> Any:
        return msgspec.json.decode(self.raw)

    @property
    def events(self) -> list[bytes]:
        """`data:` payloads of an SSE body."""
        parts = self.raw.split(b"\n\n")
        assert parts[-1] == b"", "a stream must end at an event boundary"
        assert all(p.startswith(b"data: ") for p in parts[:-1])
        return [p[6:] for p in parts[:-1]]

    @property
    def chunks(self) -> list[Any]:
        return [msgspec.json.decode(e) for e in self.events if e != b"[DONE]"]


async def _post(
    http: aiohttp.ClientSession,
    emu: Emulator,
    payload: Any = None,
    *,
    path: str = CHAT,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> Reply:
    async with http.post(
        emu.url + path,
        json=payload if data is None else None,
        data=data,
        headers={**AUTH, **(headers or {})},
    ) as resp:
        return Reply(resp.status, CIMultiDict(resp.headers), await resp.read())


def _same_but_id(a: bytes, b: bytes) -> bool:
    def scrub(raw: bytes) -> bytes:
        return re.sub(rb"chatcmpl-emu\d+", b"ID", raw)

    return scrub(a) == scrub(b)


def _error(reply: Reply) -> dict[str, Any]:
    body = reply.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == reply.status
    return error


class TestAnswers:
    async def test_non_streaming(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await _post(http, emu, _body())
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
        whole = (await _post(http, emu, _body())).json()["choices"][0]["message"]["content"]
        reply = await _post(http, emu, _body(stream=True))
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
        async with _frozen(EmulatorConfig(usage_in_stream=mode)) as emu:
            options: dict[str, Any] = {"stream_options": {"include_usage": True}} if asked else {}
            chunks = (await _post(http, emu, _body(stream=True, max_tokens=4, **options))).chunks
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
        async with _frozen(EmulatorConfig(send_done=False)) as emu:
            reply = await _post(http, emu, _body(stream=True, max_tokens=3))
        assert reply.events[-1] != b"[DONE]" and len(reply.chunks) == 3

    async def test_n_choices_stream_interleaved(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        body = _body(n=3, max_tokens=4)
        whole = (await _post(http, emu, body)).json()
        expected = {c["index"]: c["message"]["content"] for c in whole["choices"]}
        assert len(set(expected.values())) == 3
        chunks = (await _post(http, emu, {**body, "stream": True})).chunks
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
        full = (await _post(http, emu, _body())).json()["choices"][0]["message"]["content"]
        stop = full.split(" ")[5]
        reply = (await _post(http, emu, _body(stop=stop))).json()
        assert reply["choices"][0]["message"]["content"] == full[: full.index(stop)]
        assert reply["choices"][0]["finish_reason"] == "stop"
        # One token per chunk sent, the last possibly cut short by the stop sequence.
        assert reply["usage"]["completion_tokens"] == len(full[: full.index(stop)].split(" "))

        limited = (await _post(http, emu, _body(max_tokens=7))).json()
        assert limited["choices"][0]["finish_reason"] == "length"
        assert limited["usage"]["completion_tokens"] == 7
        assert full.startswith(limited["choices"][0]["message"]["content"])

        hooked = await _post(http, emu, _body("[[tokens=1000]] please", stream=True))
        assert len(hooked.chunks) == 1000

    async def test_deterministic_over_http(self, http: aiohttp.ClientSession) -> None:
        async def answer(emu: Emulator, **fields: Any) -> str:
            reply = await _post(http, emu, _body(**fields))
            return str(reply.json()["choices"][0]["message"]["content"])

        async with _frozen() as one, _frozen() as two, _frozen(EmulatorConfig(seed=5)) as other:
            first = await answer(one)
            assert first == await answer(one) == await answer(two)
            assert first != await answer(one, seed=1)
            assert first != await answer(other)
            # Emulators with equal settings send equal bytes, ids and all.
            a = await _post(http, one, _body(stream=True))
            b = await _post(http, two, _body(stream=True))
            assert _same_but_id(a.raw, b.raw)

    async def test_paced_stream_sends_the_same_bytes(self, http: aiohttp.ClientSession) -> None:
        async with _frozen() as fast, _frozen(EmulatorConfig(ttft=0.001, itl=0.0005)) as slow:
            body = _body(stream=True, max_tokens=6, n=2)
            a, b = await _post(http, fast, body), await _post(http, slow, body)
            assert _same_but_id(a.raw, b.raw)
            assert (await _post(http, slow, _body(max_tokens=3))).status == 200

    async def test_config_changes_apply_to_the_next_request(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        emu.config.completion_tokens = 5
        assert (await _post(http, emu, _body())).json()["usage"]["completion_tokens"] == 5
        emu.config.require_auth = False
        async with http.post(emu.url + CHAT, json=_body()) as resp:
            assert resp.status == 200


class TestRoutes:
    @pytest.mark.parametrize("version", ["v1", "v1beta1"])
    async def test_managed_endpoint(
        self, emu: Emulator, http: aiohttp.ClientSession, version: str
    ) -> None:
        path = f"/{version}/projects/my-proj/locations/global/endpoints/openapi/chat/completions"
        reply = await _post(http, emu, _body(model="google/gemini-2.5-flash"), path=path)
        assert reply.status == 200
        assert reply.json()["model"] == "google/gemini-2.5-flash"

    async def test_managed_endpoint_rejects_other_models(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        reply = await _post(http, emu, _body(model="gemini-2.5-flash"), path=VERTEX)
        assert reply.status == 400
        error = _error(reply)
        assert error["status"] == "INVALID_ARGUMENT"
        assert "google/{MODEL_ID}" in error["message"]

    async def test_self_deployed_endpoint_takes_any_model(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        path = "/v1/projects/p/locations/europe-west4/endpoints/1234567890/chat/completions"
        body = {"messages": [{"role": "user", "content": "hi"}]}
        assert (await _post(http, emu, body, path=path)).json()["model"] == "emulator"
        reply = await _post(http, emu, {**body, "model": "meta-llama/Llama-3"}, path=path)
        assert reply.json()["model"] == "meta-llama/Llama-3"

    async def test_plain_route_without_version(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        assert (await _post(http, emu, _body(), path="/chat/completions")).status == 200

    @pytest.mark.parametrize(
        "path",
        [
            "/v2/chat/completions",
            "/v1/models",
            "/v1/projects/p/locations/l/endpoints/my-endpoint/chat/completions",
            "/v1beta1/projects/p/locations/l/endpoints/openapi/completions",
        ],
    )
    async def test_unknown_paths_are_google_404s(
        self, emu: Emulator, http: aiohttp.ClientSession, path: str
    ) -> None:
        reply = await _post(http, emu, _body(), path=path)
        assert reply.status == 404
        assert _error(reply)["status"] == "NOT_FOUND"
        assert reply.headers["Content-Type"] == "application/json; charset=UTF-8"

    async def test_get_is_405(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        async with http.get(emu.url + VERTEX, headers=AUTH) as resp:
            assert resp.status == 405
            assert resp.headers["Allow"] == "POST"
            body = await resp.json()
        assert body["error"]["code"] == 405 and "GET" in body["error"]["message"]

    @pytest.mark.parametrize(
        ("data", "complaint"),
        [
            (b"{not json", "Invalid JSON payload"),
            (b'{"model": "m"}', "messages"),
            (b'{"messages": []}', "messages"),
        ],
    )
    async def test_bad_bodies_are_400(
        self, emu: Emulator, http: aiohttp.ClientSession, data: bytes, complaint: str
    ) -> None:
        reply = await _post(http, emu, data=data, headers={"Content-Type": "application/json"})
        assert reply.status == 400
        error = _error(reply)
        assert error["status"] == "INVALID_ARGUMENT" and complaint in error["message"]

    async def test_unknown_parameters_are_ignored(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        reply = await _post(http, emu, _body(temprature=2, extra_body={"google": {"x": 1}}))
        assert reply.status == 200


class TestAuth:
    EXPECTED_401: ClassVar[dict[str, Any]] = {
        "error": {
            "code": 401,
            "message": (
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project."
            ),
            "status": "UNAUTHENTICATED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                    "domain": "googleapis.com",
                }
            ],
        }
    }

    @pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc"])
    async def test_missing_token_is_401(
        self, emu: Emulator, http: aiohttp.ClientSession, header: str | None
    ) -> None:
        headers = {} if header is None else {"Authorization": header}
        async with http.post(emu.url + CHAT, json=_body(), headers=headers) as resp:
            assert resp.status == 401
            assert await resp.json() == self.EXPECTED_401
        assert emu.stats.by_status == {401: 1}

    async def test_accepted_tokens(self, http: aiohttp.ClientSession) -> None:
        async with _frozen(EmulatorConfig(accepted_tokens=frozenset({"fresh"}))) as emu:
            stale = await _post(http, emu, _body(), headers={"Authorization": "Bearer stale"})
            fresh = await _post(http, emu, _body(), headers={"Authorization": "Bearer fresh"})
        assert stale.status == 401 and stale.json() == self.EXPECTED_401
        assert fresh.status == 200

    async def test_auth_can_be_off(self, http: aiohttp.ClientSession) -> None:
        async with (
            _frozen(EmulatorConfig(require_auth=False)) as emu,
            http.post(emu.url + CHAT, json=_body()) as resp,
        ):
            assert resp.status == 200


def _fault(spec: str) -> dict[str, str]:
    return {"X-Emulator-Fault": spec}


async def _read_events(resp: aiohttp.ClientResponse, count: int) -> list[bytes]:
    """Read exactly `count` SSE events from a live response."""
    out = []
    for _ in range(count):
        event = b""
        while not event.endswith(b"\n\n"):
            event += await resp.content.readline()
        out.append(event)
    return out


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
        reply = await _post(http, emu, _body(stream=True), headers=_fault(spec))
        assert reply.status == status
        assert _error(reply)["status"] == google_status
        assert "Retry-After" not in reply.headers
        assert emu.stats.faults == {spec: 1}

    async def test_429_shape_and_retry_after(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        reply = await _post(http, emu, _body(), headers=_fault("429:retry-after=2"))
        assert reply.headers["Retry-After"] == "2"
        assert reply.json() == google_error(429, "RESOURCE_EXHAUSTED", None, "RATE_LIMIT_EXCEEDED")
        assert reply.json()["error"]["message"].startswith("Resource exhausted.")
        ms = await _post(http, emu, _body(), headers=_fault("429:retry-after-ms=1500"))
        assert ms.headers["retry-after-ms"] == "1500" and "Retry-After" not in ms.headers

    async def test_html_error(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await _post(http, emu, _body(), headers=_fault("html-error:code=502"))
        assert reply.status == 502
        assert reply.headers["Content-Type"] == "text/html; charset=UTF-8"
        assert reply.raw.startswith(b"<!DOCTYPE html>")
        assert b"<title>Error 502 (Server Error)!!1</title>" in reply.raw

    async def test_list_error(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await _post(http, emu, _body(), headers=_fault("list-error:code=429"))
        assert reply.status == 429
        assert reply.json() == [
            google_error(429, "RESOURCE_EXHAUSTED", None, "RATE_LIMIT_EXCEEDED")
        ]

    async def test_text_error(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await _post(http, emu, _body(), headers=_fault("text-error:code=503"))
        assert (reply.status, reply.headers["Content-Type"]) == (503, "text/plain")
        assert reply.raw == (
            b"upstream connect error or disconnect/reset before headers. reset reason: overflow"
        )

    async def test_empty_error(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await _post(http, emu, _body(), headers=_fault("empty-error:code=500"))
        assert (reply.status, reply.raw) == (500, b"")
        assert reply.headers["Content-Length"] == "0"

    async def test_reason_parameter(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await _post(http, emu, _body(), headers=_fault("503:reason=MODEL_OVERLOADED"))
        assert _error(reply)["details"][0]["reason"] == "MODEL_OVERLOADED"

    async def test_bad_fault_header_is_400(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        reply = await _post(http, emu, _body(), headers=_fault("teapot:after=1"))
        assert reply.status == 400 and "teapot" in _error(reply)["message"]
        assert emu.stats.faults == {}


class TestConnectionFaults:
    async def test_reset_before_headers(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        with pytest.raises(aiohttp.ClientConnectionError):
            await _post(http, emu, _body(stream=True), headers=_fault("reset-before-headers"))
        assert emu.stats.faults == {"reset-before-headers": 1}
        assert emu.stats.by_status == {}
        assert (await _post(http, emu, _body())).status == 200  # the emulator carries on

    async def test_reset_mid_stream(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        headers = {**AUTH, **_fault("reset-mid-stream:after=3")}
        async with http.post(emu.url + CHAT, json=_body(stream=True), headers=headers) as resp:
            assert resp.status == 200
            events = await _read_events(resp, 3)
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.content.read()
        assert [msgspec.json.decode(e[6:])["choices"][0]["finish_reason"] for e in events] == [
            None
        ] * 3

    async def test_reset_mid_body_non_streaming(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        with pytest.raises(aiohttp.ClientPayloadError):
            await _post(http, emu, _body(), headers=_fault("reset-mid-stream"))

    async def test_stall_before_headers(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        request = asyncio.ensure_future(
            http.post(emu.url + CHAT, json=_body(), headers={**AUTH, **_fault("stall")})
        )
        done, _ = await asyncio.wait([request], timeout=0.2)
        assert not done  # an hour-long stall: no headers yet
        await emu.close()  # closing does not wait for the stall
        with pytest.raises(aiohttp.ClientConnectionError):
            await request
        assert not emu.state.tasks

    async def test_stall_mid_stream(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        headers = {**AUTH, **_fault("stall:seconds=3600:after=2")}
        async with http.post(emu.url + CHAT, json=_body(stream=True), headers=headers) as resp:
            await _read_events(resp, 2)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(resp.content.readline(), 0.2)
            assert emu.stats.concurrency == 1

    async def test_stall_after_headers_non_streaming(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        headers = {**AUTH, **_fault("stall:after=0")}
        async with http.post(emu.url + CHAT, json=_body(), headers=headers) as resp:
            assert resp.status == 200
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(resp.content.read(1), 0.2)

    async def test_zero_stall_changes_nothing(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        plain = await _post(http, emu, _body(stream=True))
        stalled = await _post(
            http,
            emu,
            _body(stream=True),
            headers=_fault("stall:seconds=0:after=2, stall:seconds=0"),
        )
        assert _same_but_id(plain.raw, stalled.raw)


class TestStreamFaults:
    async def test_malformed_chunk(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        plain = await _post(http, emu, _body(stream=True, max_tokens=4))
        reply = await _post(
            http, emu, _body(stream=True, max_tokens=4), headers=_fault("malformed-chunk:after=2")
        )
        events = reply.events
        with pytest.raises(msgspec.DecodeError):
            msgspec.json.decode(events[2])
        # The broken event is extra: everything else still arrives, in order.
        assert _same_but_id(b"\n\n".join(events[:2] + events[3:]), b"\n\n".join(plain.events))

    async def test_error_in_stream(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await _post(
            http, emu, _body(stream=True), headers=_fault("error-in-stream:after=2:code=503")
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
        reply = await _post(http, emu, _body(), headers=_fault("error-in-stream:code=504"))
        assert reply.status == 504 and _error(reply)["status"] == "DEADLINE_EXCEEDED"

    async def test_truncate(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        reply = await _post(http, emu, _body(stream=True), headers=_fault("truncate:after=3"))
        assert reply.status == 200
        assert b"[DONE]" not in reply.raw
        chunks = reply.chunks
        assert len(chunks) == 3
        assert all(c["choices"][0]["finish_reason"] is None for c in chunks)

    async def test_truncate_past_the_end_drops_only_done(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        body = _body(stream=True, max_tokens=3, stream_options={"include_usage": True})
        plain = await _post(http, emu, body)
        cut = await _post(http, emu, body, headers=_fault("truncate:after=100"))
        assert plain.raw.endswith(DONE_EVENT)
        assert _same_but_id(cut.raw, plain.raw[: -len(DONE_EVENT)])

    async def test_truncate_and_malformed_non_streaming(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        plain = (await _post(http, emu, _body())).raw
        truncated = await _post(http, emu, _body(), headers=_fault("truncate"))
        malformed = await _post(http, emu, _body(), headers=_fault("malformed-chunk"))
        assert truncated.status == malformed.status == 200
        assert _same_but_id(truncated.raw, plain[: len(plain) // 2])
        assert _same_but_id(malformed.raw, plain[:-1])  # whole HTTP body, JSON unclosed
        for reply in (truncated, malformed):
            with pytest.raises(msgspec.DecodeError):
                reply.json()

    async def test_trickle_stream(self, emu: Emulator) -> None:
        body = _body("[[tokens=12]]", stream=True)
        plain = _dechunk(await _raw_exchange(emu, body))
        pieces = _dechunk(await _raw_exchange(emu, body, _fault("trickle:bytes=7")))
        assert all(len(p) <= 7 for p in pieces)
        assert len(pieces) >= len(b"".join(pieces)) / 7
        assert _same_but_id(b"".join(pieces), b"".join(plain))
        # Pieces split multi-byte characters too, somewhere in a long enough answer.
        long = await _raw_exchange(
            emu, _body("[[tokens=400]]", stream=True), _fault("trickle:bytes=5")
        )
        assert any(_splits_utf8(p) for p in _dechunk(long))

    async def test_trickle_body(self, emu: Emulator) -> None:
        pieces = _dechunk(await _raw_exchange(emu, _body(), _fault("trickle:bytes=7")))
        assert all(len(p) <= 7 for p in pieces)
        assert len(pieces) >= len(b"".join(pieces)) / 7
        assert msgspec.json.decode(b"".join(pieces))["usage"]["completion_tokens"] == 32

    async def test_faults_combine_in_order(
        self, emu: Emulator, http: aiohttp.ClientSession
    ) -> None:
        reply = await _post(
            http, emu, _body(stream=True), headers=_fault("trickle:bytes=3, truncate:after=2")
        )
        assert len(reply.chunks) == 2
        first = await _post(http, emu, _body(), headers=_fault("stall:seconds=0, 503, 429"))
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
            return (await _post(http, emu, _body(), headers=headers)).status

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
            return [(await _post(http, emu, _body())).status for _ in range(30)]

        async with _frozen(config()) as one, _frozen(config()) as two:
            first = await statuses(one)
            assert first == await statuses(two)
            assert set(first) == {200, 503}
            assert one.stats.faults["503"] + one.stats.faults["text-error"] == first.count(503)

    async def test_rate_one_hits_every_request(self, http: aiohttp.ClientSession) -> None:
        config = EmulatorConfig(faults=(Fault.parse("truncate:after=1"),), fault_rate=1.0)
        async with _frozen(config) as emu:
            for _ in range(3):
                assert len((await _post(http, emu, _body(stream=True))).chunks) == 1
            # A header fault replaces the drawn one.
            assert (await _post(http, emu, _body(), headers=_fault("500"))).status == 500


class TestCapacity:
    async def test_concurrency_limit(self, http: aiohttp.ClientSession) -> None:
        # An hour between chunks holds each stream open after its first chunk.
        async with _frozen(EmulatorConfig(max_concurrency=2, itl=3600)) as emu:
            async with contextlib.AsyncExitStack() as streams:
                for _ in range(2):
                    resp = await streams.enter_async_context(
                        http.post(emu.url + CHAT, json=_body(stream=True), headers=AUTH)
                    )
                    await _read_events(resp, 1)
                assert emu.stats.concurrency == 2
                rejected = await _post(http, emu, _body(stream=True))
                assert rejected.status == 429
                assert _error(rejected)["status"] == "RESOURCE_EXHAUSTED"
                assert "Retry-After" not in rejected.headers
            assert emu.stats.rejected_capacity == 1
            assert emu.stats.peak_concurrency == 2
            assert emu.stats.faults == {}

    async def test_a_finished_stream_frees_its_slot(self, http: aiohttp.ClientSession) -> None:
        async with _frozen(EmulatorConfig(max_concurrency=1)) as emu:
            for _ in range(3):
                assert (await _post(http, emu, _body(stream=True))).status == 200
            assert emu.stats.concurrency == 0 and emu.stats.rejected_capacity == 0

    async def test_rpm_window(self, http: aiohttp.ClientSession) -> None:
        now = [0.0]
        async with _frozen(EmulatorConfig(max_rpm=2), clock=lambda: now[0]) as emu:

            async def status() -> int:
                return (await _post(http, emu, _body())).status

            assert [await status(), await status(), await status()] == [200, 200, 429]
            now[0] += 59.0
            assert await status() == 429
            now[0] += 1.0
            assert [await status(), await status(), await status()] == [200, 200, 429]
            assert emu.stats.rejected_capacity == 3


class TestLifecycle:
    async def test_stats(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        await _post(http, emu, _body(stream=True, max_tokens=3))
        await _post(http, emu, _body())
        await _post(http, emu, _body(), path="/nope")
        await _post(http, emu, _body(), headers=_fault("503"))
        stats = emu.stats
        assert (stats.requests, stats.streamed, stats.chunks) == (4, 1, 3)
        assert stats.by_status == {200: 2, 404: 1, 503: 1}
        assert stats.faults == {"503": 1}
        assert (stats.concurrency, stats.peak_concurrency) == (0, 1)
        stats.reset()
        assert stats.requests == 0 and not stats.by_status

    async def test_request_ids_count_up(self, emu: Emulator, http: aiohttp.ClientSession) -> None:
        ids = [(await _post(http, emu, _body())).headers["x-request-id"] for _ in range(3)]
        assert ids == ["emu-00000001", "emu-00000002", "emu-00000003"]
        assert (await _post(http, emu, {}, path="/x")).headers["x-request-id"] == "emu-00000004"

    async def test_start_close_and_urls(self) -> None:
        emu = Emulator(EmulatorConfig())
        with pytest.raises(RuntimeError):
            _ = emu.url
        await emu.start()
        try:
            assert emu.url == f"http://127.0.0.1:{emu.port}" and emu.port > 0
            assert emu.base_url == emu.url + "/v1"
            assert emu.vertex_base_url().endswith(
                "/v1beta1/projects/p/locations/us-central1/endpoints/openapi"
            )
            with pytest.raises(RuntimeError):
                await emu.start()
        finally:
            await emu.close()
        await emu.close()  # closing twice is harmless

    async def test_close_ends_open_streams(self, http: aiohttp.ClientSession) -> None:
        emu = _frozen(EmulatorConfig(itl=3600))
        await emu.start()
        try:
            async with http.post(emu.url + CHAT, json=_body(stream=True), headers=AUTH) as resp:
                await _read_events(resp, 1)
                await emu.close()
                with pytest.raises(aiohttp.ClientPayloadError):
                    await resp.content.read()
        finally:
            await emu.close()
        assert emu.stats.concurrency == 0 and not emu.state.tasks

    async def test_serve_runs_until_cancelled(self, http: aiohttp.ClientSession) -> None:
        ready: asyncio.Queue[Emulator] = asyncio.Queue()
        task = asyncio.create_task(
            serve("127.0.0.1", 0, EmulatorConfig(), on_ready=ready.put_nowait)
        )
        emu = await ready.get()
        assert (await _post(http, emu, _body())).status == 200
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def test_faults_log_no_tracebacks(
        self, emu: Emulator, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        specs = [
            "reset-before-headers",
            "reset-mid-stream:after=2",
            "error-in-stream",
            "truncate",
            "malformed-chunk",
            "trickle:bytes=64",
            "html-error",
        ]
        for spec in specs:
            for stream in (True, False):
                with contextlib.suppress(aiohttp.ClientError):
                    await _post(http, emu, _body(stream=stream), headers=_fault(spec))
        # A client that walks away mid-stream.
        async with http.post(
            emu.url + CHAT, json=_body("[[tokens=100000]]", stream=True), headers=AUTH
        ) as resp:
            await _read_events(resp, 1)
        assert (await _post(http, emu, _body())).status == 200
        noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
        assert noisy == []

"""The OpenAI SDK's idioms on AsyncVertexChat, checked against the SDK itself where it can run:
the same request to the same (deterministic) emulator through `openai.AsyncOpenAI` and through
us must give the same events, the same error attributes, and responses each side can read.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import openai
import pydantic
import pytest

import aiovertexchat
from aiovertexchat import (
    NOT_GIVEN,
    APIStatusError,
    AsyncVertexChat,
    AuthenticationError,
    ChatStream,
    ConfigurationError,
    RateLimitError,
    RetryPolicy,
    Timeouts,
    UnknownParameterError,
    omit,
)
from aiovertexchat._http.transport import Response, Transport
from aiovertexchat.emulator import Emulator, EmulatorConfig

MODEL = "google/gemini-2.5-flash"
HELLO: list[Any] = [{"role": "user", "content": "Say this is a test"}]


class Weather(pydantic.BaseModel):
    city: str
    days: int


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig()) as emulator:
        yield emulator


@pytest.fixture
async def ours(emu: Emulator) -> AsyncIterator[AsyncVertexChat]:
    async with AsyncVertexChat(
        base_url=emu.vertex_base_url(), api_key="t", retry=RetryPolicy(base=0.001, cap=0.01)
    ) as client:
        yield client
    assert client.connections_in_use == 0


@pytest.fixture
async def theirs(emu: Emulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=emu.vertex_base_url(), api_key="t", max_retries=0
    ) as client:
        yield client


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """(URL, decoded body) of every request our transport sends."""
    seen: list[tuple[str, dict[str, Any]]] = []
    real_post = Transport.post

    async def post(self: Transport, url: str, body: bytes, headers: Any, **kw: Any) -> Response:
        seen.append((url, json.loads(body)))
        return await real_post(self, url, body, headers, **kw)

    monkeypatch.setattr(Transport, "post", post)
    return seen


# -- request shapes ----------------------------------------------------------------------------
async def test_not_given_and_omit_leave_parameters_out(
    ours: AsyncVertexChat, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    await ours.chat.completions.create(
        model=MODEL, messages=HELLO, temperature=NOT_GIVEN, top_p=omit,
        max_tokens=openai.NOT_GIVEN, seed=openai.omit,  # the SDK's own sentinels too
        timeout=NOT_GIVEN, stream=NOT_GIVEN, presence_penalty=0, logprobs=False,
    )
    body = sent[-1][1]  # falsy values that are not sentinels are sent
    assert body == {"messages": HELLO, "model": MODEL, "presence_penalty": 0, "logprobs": False}


async def test_newer_openai_parameters_pass_through(
    ours: AsyncVertexChat, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    extras = {
        "prompt_cache_key": "k1", "safety_identifier": "user-7", "verbosity": "low",
        "audio": {"voice": "alloy", "format": "wav"},
        "prediction": {"type": "content", "content": "x"},
    }
    await ours.chat.completions.create(model=MODEL, messages=HELLO, **extras)
    body = sent[-1][1]
    assert {name: body[name] for name in extras} == extras


async def test_typos_are_still_refused_with_a_hint(ours: AsyncVertexChat) -> None:
    with pytest.raises(UnknownParameterError, match="prompt_cache_key"):
        await ours.chat.completions.create(
            model=MODEL, messages=HELLO, prompt_cache_kye="k"  # type: ignore[call-overload]
        )


async def test_default_query_and_extra_query(
    emu: Emulator, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    async with AsyncVertexChat(
        base_url=emu.vertex_base_url(), api_key="t", default_query={"a": "1", "gone": None}
    ) as client:
        await client.chat.completions.create(model=MODEL, messages=HELLO)
        await client.chat.completions.create(
            model=MODEL, messages=HELLO, extra_query={"b": "2 3", "a": "9"}
        )
    assert sent[0][0].endswith("/chat/completions?a=1")
    assert sent[1][0].endswith("/chat/completions?a=9&b=2+3")


async def test_stream_flag_in_a_variable(ours: AsyncVertexChat) -> None:
    for flag in (False, True):
        result = await ours.chat.completions.create(model=MODEL, messages=HELLO, stream=flag)
        if isinstance(result, ChatStream):
            async with result:
                text = "".join([c.choices[0].delta.content or "" async for c in result])
        else:
            text = result.choices[0].message.content or ""
        assert text


# -- responses ----------------------------------------------------------------------------------
async def test_responses_serialise_as_the_sdk_reads_them(
    ours: AsyncVertexChat, theirs: openai.AsyncOpenAI
) -> None:
    kwargs: dict[str, Any] = dict(model=MODEL, messages=HELLO, logprobs=True, top_logprobs=2)
    mine = await ours.chat.completions.create(**kwargs)
    reference = await theirs.chat.completions.create(**kwargs)
    for text in (mine.model_dump_json(), mine.to_json(), json.dumps(mine.model_dump())):
        read = openai.types.chat.ChatCompletion.model_validate_json(text)
        assert read.choices[0].message.content == reference.choices[0].message.content
        assert read.choices[0].logprobs == reference.choices[0].logprobs
    dumped = mine.model_dump()
    assert dumped["choices"][0]["message"]["tool_calls"] is None  # None fields are kept ...
    assert "tool_calls" not in mine.to_dict()["choices"][0]["message"]  # ... or left out
    assert "tool_calls" not in mine.model_dump(exclude_none=True)["choices"][0]["message"]
    assert msgspec.json.decode(mine.to_json()) == mine.to_dict()
    assert mine.to_dict()["choices"][0]["index"] == 0  # defaults are kept: readers need them


async def test_logprobs_are_typed(ours: AsyncVertexChat, theirs: openai.AsyncOpenAI) -> None:
    kwargs: dict[str, Any] = dict(model=MODEL, messages=HELLO, logprobs=True, top_logprobs=2)
    mine = await ours.chat.completions.create(**kwargs)
    reference = await theirs.chat.completions.create(**kwargs)
    assert mine.choices[0].logprobs is not None and reference.choices[0].logprobs is not None
    got = mine.choices[0].logprobs.content or []
    want = reference.choices[0].logprobs.content or []
    assert [(e.token, e.logprob, e.bytes) for e in got] == [
        (e.token, e.logprob, e.bytes) for e in want
    ]
    assert [t.token for t in got[0].top_logprobs] == [t.token for t in want[0].top_logprobs]
    stream = await ours.chat.completions.create(stream=True, **kwargs)
    async with stream:
        async for _ in stream:
            pass
    streamed = stream.completion.choices[0].logprobs
    assert streamed is not None and streamed.content == got


async def test_stream_close_and_response(ours: AsyncVertexChat) -> None:
    stream = await ours.chat.completions.create(model=MODEL, messages=HELLO, stream=True)
    assert stream.response.status_code == 200
    assert stream.response.request_id == stream.request_id is not None
    assert stream.response.headers["content-type"].startswith("text/event-stream")
    await stream.__anext__()
    await stream.close()
    await stream.close()
    assert ours.connections_in_use == 0


async def test_with_raw_response(ours: AsyncVertexChat) -> None:
    raw = await ours.chat.completions.with_raw_response.create(model=MODEL, messages=HELLO)
    assert raw.status_code == 200 and raw.method == "POST"
    assert raw.headers.get("X-Request-ID") == raw.headers["x-request-id"] == raw.request_id
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert raw.json()["choices"][0]["message"]["content"] == completion.choices[0].message.content
    streamed = await ours.chat.completions.with_raw_response.create(
        model=MODEL, messages=HELLO, stream=True
    )
    assert streamed.headers["content-type"].startswith("text/event-stream")
    async with streamed.parse() as stream:
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == completion.choices[0].message.content
    parsed = await ours.chat.completions.with_raw_response.parse(
        model=MODEL, messages=HELLO, response_format=Weather
    )
    weather = parsed.parse().choices[0].message.parsed
    assert isinstance(weather, Weather)


async def test_with_streaming_response(ours: AsyncVertexChat) -> None:
    async with ours.chat.completions.with_streaming_response.create(
        model=MODEL, messages=HELLO, stream=True
    ) as response:
        assert response.status_code == 200 and response.request_id
        stream = await response.parse()
        first = await stream.__anext__()  # left unfinished: the block closes it
        assert first.choices
    assert ours.connections_in_use == 0
    async with ours.chat.completions.with_streaming_response.create(
        model=MODEL, messages=HELLO
    ) as response:
        completion = await response.parse()
        assert json.loads(await response.text())["id"] == completion.id


# -- the stream() helper, event for event against the SDK's ----------------------------------
def describe(event: Any) -> tuple[Any, ...]:
    kind = event.type
    if kind == "chunk":
        return (kind,)
    if kind == "content.delta":
        return (kind, event.delta, event.snapshot)
    if kind == "content.done":
        parsed = event.parsed.model_dump() if event.parsed is not None else None
        return (kind, event.content, parsed)
    if kind == "tool_calls.function.arguments.delta":
        return (kind, event.name, event.index, event.arguments, event.arguments_delta)
    if kind == "tool_calls.function.arguments.done":
        return (kind, event.name, event.index, event.arguments)
    if kind.startswith("logprobs."):
        items = event.content if "content" in kind else event.refusal
        return (kind, [(e.token, e.logprob) for e in items])
    return (kind, getattr(event, "delta", None))


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"messages": HELLO},
        # (Not both: for a choice after the first, the SDK's helper repeats the first logprob
        # entry in its snapshot and done event; ours does not.)
        {"messages": HELLO, "logprobs": True, "top_logprobs": 1},
        {"messages": HELLO, "n": 2},
        {"messages": [{"role": "user", "content": "call get_weather and get_time"}],
         "tools": [{"type": "function", "function": {"name": name, "parameters": {
             "type": "object", "properties": {"city": {"type": "string"}}}}}
             for name in ("get_weather", "get_time")]},
        {"messages": HELLO, "response_format": Weather},
    ],
    ids=["text", "logprobs", "n2", "two-tools", "response-format"],
)
async def test_stream_events_match_the_sdk(
    emu: Emulator, request_kwargs: dict[str, Any]
) -> None:
    # The plain (OpenAI-style) route: the SDK's helper needs `index` on tool-call deltas.
    # No max_tokens: the emulator's answer ends with "stop" (the SDK's get_final_completion()
    # raises on "length" even without a response format; ours returns the completion).
    kwargs = {"model": "m", **request_kwargs}
    sdk = openai.AsyncOpenAI(base_url=emu.base_url, api_key="t", max_retries=0)
    async with sdk, sdk.chat.completions.stream(**kwargs) as stream:
        want = [describe(e) async for e in stream]
        want_final = await stream.get_final_completion()
    client = AsyncVertexChat(base_url=emu.base_url, api_key="t")
    async with client, client.chat.completions.stream(**kwargs) as ours_stream:
        got = [describe(e) async for e in ours_stream]
        final = await ours_stream.get_final_completion()
    assert got == want
    assert len(got) > 3
    for mine, theirs in zip(final.choices, want_final.choices, strict=True):
        assert mine.message.content == theirs.message.content
        assert mine.finish_reason == theirs.finish_reason
        if theirs.message.parsed is not None:
            assert mine.message.parsed == theirs.message.parsed


async def test_stream_helper_snapshots_and_gemini_tool_deltas(emu: Emulator) -> None:
    # Gemini's shape (no `index`, the whole call in one delta) gets indices as the
    # accumulator gives them; the SDK's own helper cannot read this shape at all.
    async with AsyncVertexChat(base_url=emu.vertex_base_url(), api_key="t") as client:
        async with client.beta.chat.completions.stream(
            model=MODEL,
            messages=[{"role": "user", "content": "call get_weather and get_time"}],
            tools=[{"type": "function", "function": {"name": n, "strict": True, "parameters": {
                "type": "object", "properties": {"city": {"type": "string"}}}}}
                for n in ("get_weather", "get_time")],
        ) as stream:
            events = [e async for e in stream]
            chunk_event = next(e for e in events if e.type == "chunk")
            assert chunk_event.snapshot.choices  # built when read
        done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
        assert [(e.index, e.name) for e in done] == [(0, "get_weather"), (1, "get_time")]
        assert all(isinstance(e.parsed_arguments, dict) for e in done)  # strict tools
        final = await stream.get_final_completion()
        calls = final.choices[0].message.tool_calls or []
        assert [c.function.arguments for c in calls] == [e.arguments for e in done]


async def test_stream_helper_refuses_stream_and_typos_at_once(ours: AsyncVertexChat) -> None:
    with pytest.raises(UnknownParameterError):
        ours.chat.completions.stream(model=MODEL, messages=HELLO, stream=True)  # type: ignore[call-overload]
    with pytest.raises(UnknownParameterError, match="max_tokens"):
        ours.chat.completions.stream(model=MODEL, messages=HELLO, max_token=3)  # type: ignore[call-overload]


# -- errors -------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault", ["429", "500", "list-error", "html-error"])
async def test_error_attributes_match_the_sdk(
    ours: AsyncVertexChat, theirs: openai.AsyncOpenAI, fault: str
) -> None:
    headers = {"X-Emulator-Fault": fault}
    with pytest.raises(openai.APIStatusError) as sdk:
        await theirs.chat.completions.create(model=MODEL, messages=HELLO, extra_headers=headers)
    with pytest.raises(APIStatusError) as info:
        await ours.chat.completions.create(
            model=MODEL, messages=HELLO, extra_headers=headers, retry=RetryPolicy.never()
        )
    mine, reference = info.value, sdk.value
    assert type(mine).__name__ == type(reference).__name__
    assert mine.status_code == mine.response.status_code == reference.status_code
    assert mine.request_id == mine.response.headers["X-Request-Id"]
    assert reference.request_id == reference.response.headers["x-request-id"]
    assert (mine.type, mine.param) == (reference.type, reference.param)
    if fault == "list-error":
        # Vertex's list form: the SDK reads no code out of it, we read the same one as from
        # the object form.
        assert (mine.code, reference.code) == ("429", None)
    else:
        assert mine.code == reference.code
    assert mine.message and mine.body is not None


async def test_catching_sdk_and_our_errors_in_one_clause(ours: AsyncVertexChat) -> None:
    # The README's one line for code that catches the SDK's errors: a tuple of both.
    RateLimited = (openai.RateLimitError, aiovertexchat.RateLimitError)
    with pytest.raises(RateLimited) as info:
        await ours.chat.completions.create(
            model=MODEL, messages=HELLO, extra_headers={"X-Emulator-Fault": "429"},
            retry=RetryPolicy.never(),
        )
    assert isinstance(info.value, RateLimitError) and info.value.code == "429"
    assert info.value.response.json() == info.value.body


# -- client options ----------------------------------------------------------------------------
async def test_api_key_set_after_construction_is_used_next(emu: Emulator) -> None:
    emu.state.config.accepted_tokens = frozenset({"good"})
    async with AsyncVertexChat(base_url=emu.vertex_base_url(), api_key="DUMMY") as client:
        with pytest.raises(AuthenticationError):
            await client.chat.completions.create(model=MODEL, messages=HELLO)
        assert client.api_key == "DUMMY"
        client.api_key = "good"
        assert client.api_key == "good" and "good" not in repr(client)
        completion = await client.chat.completions.create(model=MODEL, messages=HELLO)
        assert completion.choices[0].message.content
        with pytest.raises(ConfigurationError):
            client.api_key = ""
    assert emu.stats.rejected_auth == 1


async def test_api_key_replaces_default_google_auth(emu: Emulator) -> None:
    emu.state.config.accepted_tokens = frozenset({"good"})
    client = AsyncVertexChat(project="my-project", location="us-central1", environ={})
    assert client.api_key is None and client.auth_stats is not None  # ADC by default
    client.api_key = "good"
    client._url = emu.vertex_base_url() + "/chat/completions"  # the Vertex host, faked
    async with client:
        await client.chat.completions.create(model=MODEL, messages=HELLO)
    assert emu.stats.rejected_auth == 0


async def test_with_options_shares_the_pool(
    ours: AsyncVertexChat, emu: Emulator, sent: list[tuple[str, dict[str, Any]]]
) -> None:
    quick = ours.with_options(
        timeout=5, max_retries=0, default_headers={"X-Extra": "1"}, default_query={"q": "1"}
    )
    assert quick._transport is ours._transport and quick._dispatcher is ours._dispatcher
    assert quick.max_retries == 0 and ours.max_retries == 3
    assert quick.timeout.total == 5.0 and ours.timeout.total == Timeouts().total
    copied = ours.copy(api_key="other")
    assert copied.api_key == "other" and ours.api_key == "t"
    await quick.chat.completions.create(model=MODEL, messages=HELLO)
    assert sent[-1][0].endswith("?q=1")
    with pytest.raises(RateLimitError) as info:
        await quick.chat.completions.create(
            model=MODEL, messages=HELLO, extra_headers={"X-Emulator-Fault": "429"}
        )
    assert len(info.value.attempts) == 1  # max_retries=0 on the copy ...
    await quick.close()  # closing a copy leaves the original working
    assert (await ours.chat.completions.create(model=MODEL, messages=HELLO)).choices
    assert ours.stats.requests == 3  # one set of counters for both
    with pytest.raises(RuntimeError, match="closed"):
        await quick.chat.completions.create(model=MODEL, messages=HELLO)


async def test_closing_the_original_closes_its_copies(emu: Emulator) -> None:
    client = AsyncVertexChat(base_url=emu.vertex_base_url(), api_key="t")
    copy = client.with_options(timeout=3)
    await copy.chat.completions.create(model=MODEL, messages=HELLO)
    await client.close()
    with pytest.raises(RuntimeError, match="closed"):
        await copy.chat.completions.create(model=MODEL, messages=HELLO)


def test_max_retries_and_its_conflicts() -> None:
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    assert AsyncVertexChat(environ=env, max_retries=2).retry_policy.max_attempts == 3
    assert AsyncVertexChat(environ=env).retry_policy.max_attempts == 4
    with pytest.raises(ConfigurationError, match="not both"):
        AsyncVertexChat(environ=env, max_retries=1, retry=RetryPolicy())
    with pytest.raises(ConfigurationError, match="max_retries"):
        AsyncVertexChat(environ=env, max_retries=-1)


async def test_beta_is_the_same_resource(ours: AsyncVertexChat) -> None:
    assert ours.beta.chat.completions is ours.chat.completions
    parsed = await ours.beta.chat.completions.parse(
        model=MODEL, messages=HELLO, response_format=Weather
    )
    assert isinstance(parsed.choices[0].message.parsed, Weather)


# -- the default concurrency limit -----------------------------------------------------------
async def _crowd(client: AsyncVertexChat, count: int) -> None:
    await asyncio.gather(
        *(client.chat.completions.create(model=MODEL, messages=HELLO, max_tokens=2)
          for _ in range(count))
    )


async def test_queueing_behind_the_default_limit_warns_once() -> None:
    async with Emulator(EmulatorConfig(ttft=0.05)) as emu:
        client = AsyncVertexChat(base_url=emu.vertex_base_url(), api_key="t")
        async with client:
            with pytest.warns(UserWarning, match="max_concurrency") as caught:
                await _crowd(client, 130)
                await _crowd(client, 130)
            assert len([w for w in caught if "max_concurrency" in str(w.message)]) == 1
            assert emu.stats.peak_concurrency == 100


async def test_no_warning_when_the_limit_was_chosen_or_not_reached() -> None:
    async with Emulator(EmulatorConfig(ttft=0.05)) as emu:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            async with AsyncVertexChat(
                base_url=emu.vertex_base_url(), api_key="t", max_concurrency=100
            ) as chosen:
                await _crowd(chosen, 130)
            async with AsyncVertexChat(base_url=emu.vertex_base_url(), api_key="t") as default:
                await _crowd(default, 60)

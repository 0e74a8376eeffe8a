"""The official `openai` SDK against the emulator: to the SDK it must look like the real API."""

from __future__ import annotations

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from aiovertexchat.emulator import Emulator
from aiovertexchat.emulator.content import VOCABULARY
from tests.helpers import MODEL

PROMPT: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Say something about rivers"}
]


async def test_non_streaming(sdk: openai.AsyncOpenAI) -> None:
    completion = await sdk.chat.completions.create(model="any", messages=PROMPT)
    assert completion.object == "chat.completion"
    assert completion.model == "any"
    (choice,) = completion.choices
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content is not None
    words = choice.message.content.split(" ")
    assert len(words) == 32 and set(words) <= set(VOCABULARY)
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (4, 32)
    assert completion.usage.total_tokens == 36


async def test_streaming_with_usage(sdk: openai.AsyncOpenAI) -> None:
    whole = await sdk.chat.completions.create(model="m", messages=PROMPT)
    stream = await sdk.chat.completions.create(
        model="m",
        messages=PROMPT,
        stream=True,
        stream_options={"include_usage": True},
    )
    text, finish, usage, roles = "", None, None, []
    async with stream:
        async for chunk in stream:
            assert chunk.object == "chat.completion.chunk"
            if chunk.usage is not None:
                assert chunk.choices == []
                usage = chunk.usage
                continue
            (choice,) = chunk.choices
            roles.append(choice.delta.role)
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    assert text == whole.choices[0].message.content
    assert finish == "stop"
    assert roles == ["assistant"] + [None] * 31
    assert usage is not None and usage.completion_tokens == 32 and usage.prompt_tokens == 4


async def test_streaming_n_choices(sdk: openai.AsyncOpenAI) -> None:
    whole = await sdk.chat.completions.create(model="m", messages=PROMPT, n=2, max_tokens=6)
    stream = await sdk.chat.completions.create(
        model="m",
        messages=PROMPT,
        n=2,
        max_tokens=6,
        stream=True,
    )
    texts: dict[int, str] = {}
    finishes: dict[int, str] = {}
    async with stream:
        async for chunk in stream:
            for choice in chunk.choices:
                texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
                if choice.finish_reason:
                    finishes[choice.index] = choice.finish_reason
    assert texts == {c.index: c.message.content for c in whole.choices}
    assert texts[0] != texts[1]
    assert finishes == {0: "length", 1: "length"}
    assert whole.usage is not None and whole.usage.completion_tokens == 12


async def test_max_tokens_and_stop(sdk: openai.AsyncOpenAI) -> None:
    limited = await sdk.chat.completions.create(model="m", messages=PROMPT, max_tokens=5)
    assert limited.choices[0].finish_reason == "length"
    assert limited.usage is not None and limited.usage.completion_tokens == 5
    content = limited.choices[0].message.content
    assert content is not None and len(content.split(" ")) == 5

    full = await sdk.chat.completions.create(model="m", messages=PROMPT)
    text = full.choices[0].message.content
    assert text is not None
    stop = text.split(" ")[3]
    stopped = await sdk.chat.completions.create(
        model="m",
        messages=PROMPT,
        stop=[stop, "never-there"],
    )
    assert stopped.choices[0].message.content == text[: text.index(stop)]
    assert stopped.choices[0].finish_reason == "stop"

    alias = await sdk.chat.completions.create(
        model="m",
        messages=PROMPT,
        max_completion_tokens=3,
    )
    assert alias.usage is not None and alias.usage.completion_tokens == 3


async def test_vertex_path(sdk_vertex: openai.AsyncOpenAI) -> None:
    completion = await sdk_vertex.chat.completions.create(
        model=MODEL,
        messages=PROMPT,
        extra_body={"extra_body": {"google": {"thinking_config": {"include_thoughts": False}}}},
    )
    assert completion.model == MODEL
    assert completion.choices[0].finish_reason == "stop"
    stream = await sdk_vertex.chat.completions.create(model=MODEL, messages=PROMPT, stream=True)
    async with stream:
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == completion.choices[0].message.content


async def test_vertex_path_wants_google_model(sdk_vertex: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk_vertex.chat.completions.create(model="gemini-2.5-flash", messages=PROMPT)
    assert caught.value.status_code == 400
    assert "google/{MODEL_ID}" in str(caught.value)


async def test_errors_map_to_sdk_exceptions(emulator: Emulator, sdk: openai.AsyncOpenAI) -> None:
    # The 401 Vertex gives an expired token.
    emulator.config.accepted_tokens = frozenset({"a-fresh-token"})
    with pytest.raises(openai.AuthenticationError) as unauthenticated:
        await sdk.chat.completions.create(model="m", messages=PROMPT)
    assert unauthenticated.value.status_code == 401
    emulator.config.accepted_tokens = None
    with pytest.raises(openai.RateLimitError) as caught:
        await sdk.chat.completions.create(
            model="m",
            messages=PROMPT,
            extra_headers={"X-Emulator-Fault": "429"},
        )
    assert caught.value.response.headers["x-request-id"] == "emu-00000002"
    with pytest.raises(openai.InternalServerError):
        await sdk.chat.completions.create(
            model="m",
            messages=PROMPT,
            extra_headers={"X-Emulator-Fault": "503"},
        )


async def test_sdk_retries_through_a_fault_once(emulator: Emulator) -> None:
    async with openai.AsyncOpenAI(base_url=emulator.base_url, api_key="t", max_retries=2) as client:
        completion = await client.chat.completions.create(
            model="m",
            messages=PROMPT,
            # retry-after-ms keeps the SDK's back-off at a millisecond.
            extra_headers={"X-Emulator-Fault-Once": "retry-test=429:retry-after-ms=1*2"},
        )
    assert completion.choices[0].finish_reason == "stop"
    assert emulator.stats.by_status == {429: 2, 200: 1}


async def test_sdk_sees_a_reset_as_a_connection_error(sdk: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        await sdk.chat.completions.create(
            model="m",
            messages=PROMPT,
            extra_headers={"X-Emulator-Fault": "reset-before-headers"},
        )

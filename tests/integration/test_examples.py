"""Every file in examples/ runs against the emulator, as a user would run it.

Google's samples (sync `VertexChat`, credentials from Application Default Credentials,
`https://...aiplatform.googleapis.com` URLs) run against a faked Google Cloud: ADC is a key file
whose token endpoint is the emulator's, the Vertex hosts are answered by the emulator, and the
emulator accepts only tokens it issued, so a request sent with a placeholder or stale token
would show up as a 401. The AsyncOpenAI-style snippets read OPENAI_BASE_URL / OPENAI_API_KEY as
the OpenAI SDK does. Each example differs from its OpenAI-SDK original only in its imports and
its constructor (`# was: ...`).
"""

from __future__ import annotations

import asyncio
import datetime
import gc
import importlib.util
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from aiovertexchat import ChatCompletion, ChatCompletionChunk
from aiovertexchat.emulator import Emulator, EmulatorConfig

from .fake_google import PROJECT, FakeGoogle, install, private_key_pem

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the example's annotations through it
    spec.loader.exec_module(module)
    return module


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "aiovertexchat-loop"]


@pytest.fixture(scope="module")
def pem() -> str:
    return private_key_pem()


@pytest.fixture
async def google(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pem: str
) -> AsyncIterator[FakeGoogle]:
    async with Emulator(EmulatorConfig(require_issued_tokens=True)) as emu:
        yield install(monkeypatch, tmp_path, emu, pem)
    # Google's samples never close their client: dropping it must stop its thread.
    gc.collect()
    assert loop_threads() == []


async def in_thread(func: Any, *args: Any, **kwargs: Any) -> Any:
    # The samples block (google-auth's token HTTP, the sync client): run them off this loop,
    # which serves the emulator.
    return await asyncio.to_thread(func, *args, **kwargs)


def assert_vertex_urls(google: FakeGoogle, path: str) -> None:
    assert google.urls, "no request was sent"
    for url in google.urls:
        assert url.startswith("https://us-central1-aiplatform.googleapis.com/"), url
        assert f"/projects/{PROJECT}/locations/us-central1/endpoints/{path}" in url, url


def assert_all_accepted(google: FakeGoogle) -> None:
    stats = google.emu.stats
    assert stats.rejected_auth == 0 and stats.tokens_issued >= 1
    assert set(stats.by_status) == {200}


def who_answered(completion: ChatCompletion) -> str:
    return completion.model


# -- Google's samples -------------------------------------------------------------------------
async def test_google_non_streaming(google: FakeGoogle, capsys: pytest.CaptureFixture[str]) -> None:
    response = await in_thread(load("google_chat_non_streaming").generate_text, PROJECT)
    assert isinstance(response, ChatCompletion)
    assert response.choices[0].finish_reason in ("stop", "length")
    assert response.choices[0].message.content
    assert who_answered(response) == "google/gemini-2.0-flash-001"
    assert "ChatCompletion(" in capsys.readouterr().out  # print(response) works
    assert_vertex_urls(google, "openapi")
    assert_all_accepted(google)


async def test_google_streaming(google: FakeGoogle) -> None:
    chunks = await in_thread(load("google_chat_streaming").generate_text, PROJECT)
    assert chunks and all(isinstance(c, ChatCompletionChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert google.emu.stats.streamed == 1
    assert_vertex_urls(google, "openapi")
    assert_all_accepted(google)


async def test_google_image(google: FakeGoogle) -> None:
    response = await in_thread(load("google_chat_image").generate_text, PROJECT)
    assert response.choices[0].message.content
    body = google.bodies[-1]
    assert b'"image_url":"gs://cloud-samples-data/generative-ai/image/scones.jpg"' in body
    assert_all_accepted(google)


async def test_google_self_deployed(google: FakeGoogle) -> None:
    module = load("google_self_deployed")
    response = await in_thread(module.generate_text, PROJECT, endpoint_id="1234567")
    streamed = await in_thread(module.stream_text, PROJECT, endpoint_id="1234567")
    assert response.model == "gemma-2-9b-it"
    assert streamed
    assert_vertex_urls(google, "1234567")
    assert_all_accepted(google)


async def test_google_function_calling(
    google: FakeGoogle, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load("google_function_calling")
    # The emulator calls a tool when the question names it (a real model decides by itself).
    response = await in_thread(
        module.generate_text, "What is the weather in Boston, MA? Use get_current_weather."
    )
    calls = response.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "get_current_weather"
    assert "location" in calls[0].function.arguments
    out = capsys.readouterr().out
    assert f"Function: {calls[0].id}" in out and "Arguments: {" in out
    assert google.urls[-1].split("/")[3] == "v1beta1"
    assert_all_accepted(google)


async def test_google_structured_output_from_the_environment(
    google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await in_thread(issued_token)
    monkeypatch.setenv("OPENAI_BASE_URL", google.vertex_base_url(version="v1"))
    monkeypatch.setenv("OPENAI_API_KEY", token)
    event = await in_thread(load("google_structured_output").main)
    assert event is not None and isinstance(event.participants, list)
    assert type(event).__name__ == "CalendarEvent"
    assert_all_accepted(google)


async def test_google_environment_setup(
    google: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await in_thread(issued_token)
    monkeypatch.setenv("OPENAI_BASE_URL", google.vertex_base_url())
    monkeypatch.setenv("OPENAI_API_KEY", token)
    content = await in_thread(load("google_environment").main)
    assert content
    assert_vertex_urls(google, "openapi")
    assert_all_accepted(google)


def issued_token() -> str:
    """What `gcloud auth application-default print-access-token` gives, from the fake ADC."""
    import google.auth
    import google.auth.transport.requests

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    credentials.refresh(google.auth.transport.requests.Request())
    token: str = credentials.token
    return token


async def test_google_credentials_refresher_sets_the_key_the_next_request_uses(
    google: FakeGoogle,
) -> None:
    # Before `api_key` could be set after construction this sample sent its "DUMMY"
    # placeholder. The emulator takes only live tokens it issued: a placeholder or a stale key
    # would be a 401 there.
    module = load("google_credentials_refresher")
    client = await in_thread(
        module.OpenAICredentialsRefresher,
        base_url=f"https://us-central1-aiplatform.googleapis.com/v1beta1/projects/{PROJECT}"
        "/locations/us-central1/endpoints/openapi",
    )

    def ask() -> ChatCompletion:
        response: ChatCompletion = client.chat.completions.create(
            model="google/gemini-2.0-flash-001",
            messages=[{"role": "user", "content": "Why is the sky blue?"}],
        )
        return response

    assert (await in_thread(ask)).choices[0].message.content
    assert (await in_thread(ask)).choices[0].message.content  # the key is still valid
    # An hour later: the credentials have expired and the emulator no longer takes the key.
    client.creds.expiry = datetime.datetime(2000, 1, 1)
    assert google.emu.state.tokens.revoke_all() == 1
    assert (await in_thread(ask)).choices[0].message.content
    sent = [h["Authorization"] for h in google.headers]
    assert len(sent) == 3 and sent[0] == sent[1] != sent[2]
    assert "Bearer DUMMY" not in sent
    assert google.emu.stats.tokens_issued == 2
    assert_all_accepted(google)
    await in_thread(client.client.close)
    # ... and the sample's own entry point.
    response = await in_thread(module.generate_text, PROJECT)
    assert response.choices[0].message.content
    assert_all_accepted(google)


# -- AsyncOpenAI-style snippets ---------------------------------------------------------------
@pytest.fixture
async def openai_env(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(accepted_tokens=frozenset({"sk-test"}))) as emu:
        monkeypatch.setenv("OPENAI_BASE_URL", emu.vertex_base_url())
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        yield emu
    assert emu.stats.rejected_auth == 0


async def test_async_quickstart(openai_env: Emulator) -> None:
    answer = await load("async_quickstart").main()
    assert answer and openai_env.stats.by_status[200] == 1


async def test_async_streaming(openai_env: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    module = load("async_streaming")
    chunks_text, events_text = await module.main()
    assert chunks_text == events_text != ""  # the emulator answers a prompt the same way
    out = capsys.readouterr().out
    assert "tokens:" in out and events_text in out
    async with module.AsyncVertexChat() as client:
        streamed = await module.ask(client, "Say this is a test", True)
        plain = await module.ask(client, "Say this is a test", False)
    assert streamed == plain == chunks_text


async def test_async_structured(openai_env: Emulator) -> None:
    parsed, streamed = await load("async_structured").main()
    assert parsed is not None and streamed is not None
    assert type(parsed).__name__ == type(streamed).__name__ == "MathResponse"
    assert isinstance(parsed.steps, list) and isinstance(streamed.final_answer, str)


async def test_async_tools(openai_env: Emulator) -> None:
    answer = await load("async_tools").main()
    assert answer
    assert openai_env.stats.by_status[200] == 2


async def test_async_raw_and_options(openai_env: Emulator) -> None:
    module = load("async_raw_and_options")
    seen = await module.main()
    assert seen["status"] == seen["stream_status"] == 200
    assert str(seen["request_id"]).startswith("emu-")
    assert seen["object"] == "chat.completion"
    assert isinstance(seen["chunks"], int) and seen["chunks"] > 1
    assert seen["answer"] and not str(seen["careful"]).startswith(("rate", "failed"))
    # The same error handling against a pool that answers 429 to everything.
    openai_env.state.config.max_concurrency = 0
    async with module.AsyncVertexChat(max_retries=0) as client:
        text = await module.careful_ask(client, "hello")
    assert text.startswith("rate limited: 429 code=429 id=emu-")


async def test_async_fan_out(openai_env: Emulator) -> None:
    answers = await load("async_fan_out").main(count=40)
    assert len(answers) == 40 and all(answers)

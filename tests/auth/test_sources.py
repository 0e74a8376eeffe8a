"""Token sources (`StaticToken`, `CallableToken`, `NoAuth`) through the client against the
emulator (401s, refreshing, secrets kept out of reprs and errors). `GoogleAuth` is in
test_google.py."""

from __future__ import annotations

import pytest

from aiovertexchat import (
    AsyncVertexChat,
    AuthenticationError,
    GoogleAuth,
    RateLimitError,
)
from aiovertexchat.emulator import Emulator
from tests.helpers import HELLO, MODEL, fault, fault_once


async def test_missing_token_is_authentication_error(emulator: Emulator) -> None:
    async with AsyncVertexChat(base_url=emulator.base_url) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.chat.completions.create(model=MODEL, messages=HELLO)
        assert info.value.google_status == "UNAUTHENTICATED"


async def test_token_callable_is_cached_and_called_again_after_401(emulator: Emulator) -> None:
    calls: list[int] = []

    def token() -> str:
        calls.append(1)
        return f"token-{len(calls)}"

    async with AsyncVertexChat(base_url=emulator.base_url, token=token) as client:
        await client.chat.completions.create(model=MODEL, messages=HELLO)
        await client.chat.completions.create(model=MODEL, messages=HELLO)
        assert len(calls) == 1  # cached between requests
        completion = await client.chat.completions.create(
            model=MODEL, messages=HELLO, extra_headers=fault_once("a", "401")
        )
        assert completion.choices[0].message.content
        assert len(calls) == 2  # the 401 invalidated the token; one retry with a new one


async def test_static_token_401_is_not_retried(client: AsyncVertexChat) -> None:
    with pytest.raises(AuthenticationError) as info:
        await client.chat.completions.create(
            model=MODEL, messages=HELLO, extra_headers=fault_once("b", "401")
        )
    assert info.value.reason == "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    assert "gcloud auth application-default login" in str(info.value)


async def test_token_never_in_repr_or_errors(emulator: Emulator) -> None:
    secret = "ya29.super-secret-token"
    async with AsyncVertexChat(base_url=emulator.base_url, api_key=secret) as client:
        assert secret not in repr(client)
        assert "static" in repr(client)
        with pytest.raises(RateLimitError) as info:
            await client.chat.completions.create(
                model=MODEL, messages=HELLO, extra_headers=fault("429")
            )
        assert secret not in str(info.value) and secret not in repr(info.value)
        assert secret not in repr(info.value.headers)


async def test_default_auth_for_vertex_and_stats_for_other_sources(emulator: Emulator) -> None:
    vertex = AsyncVertexChat(project="p", location="europe-west4", environ={})
    assert isinstance(vertex._auth, GoogleAuth)
    assert vertex.auth_stats is not None and vertex.auth_stats.refreshes == 0
    assert vertex.auth_stats.expires_in is None and vertex.auth_stats.kind == "google"
    await vertex.aclose()  # never started: nothing to cancel, no ADC lookup happened
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="static") as static:
        assert static.auth_stats is None

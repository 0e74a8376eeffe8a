"""Token sources (`StaticToken`, `CallableToken`, `NoAuth`) directly, the source the client picks
from its arguments, and how each behaves through the client against the emulator (401s,
refreshing, secrets kept out of reprs and errors). `GoogleAuth` is in test_google.py."""

from __future__ import annotations

import pytest

from aiovertexchat import (
    AsyncVertexChat,
    AuthenticationError,
    ConfigurationError,
    GoogleAuth,
    RateLimitError,
)
from aiovertexchat._auth.sources import AuthProvider, CallableToken, NoAuth, StaticToken
from aiovertexchat.emulator import Emulator
from tests.helpers import HELLO, MODEL, fault, fault_once


# -- the sources, directly ------------------------------------------------------------------------
async def test_static_token_is_one_bearer_header_never_shown() -> None:
    source = StaticToken("  ya29.static-secret \n")
    assert await source.headers() == {"Authorization": "Bearer ya29.static-secret"}
    source.invalidate()  # nothing to forget: the same token again
    assert await source.headers() == {"Authorization": "Bearer ya29.static-secret"}
    assert (source.kind, source.refreshable) == ("static", False)
    assert repr(source) == "<StaticToken kind=static>"
    await source.start()
    await source.aclose()


@pytest.mark.parametrize("token", ["", "   "])
def test_static_token_must_not_be_empty(token: str) -> None:
    with pytest.raises(ValueError, match="the token is empty"):
        StaticToken(token)


async def test_callable_token_is_cached_until_invalidated() -> None:
    calls: list[int] = []

    def mint() -> str:
        calls.append(1)
        return f" token-{len(calls)} "

    source = CallableToken(mint)
    assert (source.kind, source.refreshable) == ("callable", True)
    assert await source.headers() == {"Authorization": "Bearer token-1"}
    assert await source.headers() == {"Authorization": "Bearer token-1"}
    assert len(calls) == 1
    source.invalidate()
    assert await source.headers() == {"Authorization": "Bearer token-2"}
    assert len(calls) == 2
    assert repr(source) == "<CallableToken kind=callable>"


async def test_callable_token_may_be_async() -> None:
    async def mint() -> str:
        return "async-token"

    assert await CallableToken(mint).headers() == {"Authorization": "Bearer async-token"}


@pytest.mark.parametrize("returned", ["", "  ", None, 42, b"bytes"])
async def test_callable_token_must_return_a_token(returned: object) -> None:
    source = CallableToken(lambda: returned)  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="returned no token"):
        await source.headers()


def test_callable_token_needs_a_callable() -> None:
    with pytest.raises(TypeError, match="must be a callable"):
        CallableToken("not-callable")  # type: ignore[arg-type]


async def test_no_auth_sends_no_header() -> None:
    source = NoAuth()
    assert await source.headers() == {}
    assert (source.kind, source.refreshable, repr(source)) == ("none", False, "<NoAuth kind=none>")


def test_every_source_is_an_auth_provider() -> None:
    for source in (StaticToken("t"), CallableToken(lambda: "t"), NoAuth()):
        assert isinstance(source, AuthProvider)


# -- the source the client picks ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "environ", "kind"),
    [
        ({"api_key": "k"}, {}, "static"),
        ({"token": lambda: "t"}, {}, "callable"),
        ({"auth": NoAuth()}, {}, "none"),
        ({}, {}, "none"),  # a plain base URL and no credentials
        ({}, {"OPENAI_API_KEY": "from-env"}, "static"),
    ],
)
def test_the_client_picks_the_source_from_its_arguments(
    kwargs: dict[str, object], environ: dict[str, str], kind: str
) -> None:
    client = AsyncVertexChat(base_url="http://127.0.0.1:9/v1", environ=environ, **kwargs)
    assert repr(client).endswith(f"auth={kind}>")
    assert "from-env" not in repr(client)


def test_only_one_source_may_be_given() -> None:
    with pytest.raises(ConfigurationError, match=r"pass only one of api_key, token and auth"):
        AsyncVertexChat(base_url="http://127.0.0.1:9/v1", api_key="k", token=lambda: "t")


# -- through the client, against the emulator ----------------------------------------------------
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
    vertex = AsyncVertexChat(project="my-project", location="europe-west4", environ={})
    assert isinstance(vertex._auth, GoogleAuth)
    assert vertex.auth_stats is not None and vertex.auth_stats.refreshes == 0
    assert vertex.auth_stats.expires_in is None and vertex.auth_stats.kind == "google"
    await vertex.aclose()  # never started: nothing to cancel, no ADC lookup happened
    async with AsyncVertexChat(base_url=emulator.base_url, api_key="static") as static:
        assert static.auth_stats is None

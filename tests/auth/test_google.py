"""GoogleAuth with real google-auth service-account credentials against the emulator's /token.

Every token here comes from a real `google.oauth2.service_account.Credentials` refresh (an RSA
key generated for the test, a signed JWT-bearer grant, HTTP with `requests`) to the emulator,
and the emulator only accepts live tokens it issued, so a request sent with an expired token
would show up as a 401 in its counters.
"""

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.compute_engine import _metadata
from google.oauth2 import service_account

from aiovertexchat import (
    APIStatusError,
    AsyncVertexChat,
    AuthenticationError,
    ConfigurationError,
    GoogleAuth,
    RefreshPolicy,
)
from aiovertexchat.emulator import Emulator, EmulatorConfig
from tests.helpers import HELLO, MODEL, serve_app

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
SA_EMAIL = "tester@emu-project.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def sa_info(emu: Emulator, pem: str) -> dict[str, str]:
    """A service-account key file's content, its token_uri pointing at the emulator."""
    return {
        "type": "service_account",
        "project_id": "emu-project",
        "private_key_id": "test-key-1",
        "private_key": pem,
        "client_email": SA_EMAIL,
        "client_id": "1234567890",
        "token_uri": emu.token_url,
    }


def credentials(emu: Emulator, pem: str, cls: Any = service_account.Credentials) -> Any:
    return cls.from_service_account_info(sa_info(emu, pem))


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(require_issued_tokens=True)) as emulator:
        yield emulator


async def ask(client: AsyncVertexChat, **kwargs: Any) -> str:
    completion = await client.chat.completions.create(
        model=MODEL, messages=HELLO, max_tokens=3, **kwargs
    )
    content = completion.choices[0].message.content
    assert content
    return content


def our_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("aiovertexchat-")]


# -- the main property: refresh runs ahead, requests never wait on it ----------------------------
async def test_hundreds_of_streams_across_several_expiries(private_key_pem: str) -> None:
    # 2 s tokens refreshed 0.8-1 s before expiry: the default margin (a quarter of the
    # lifetime, 0.5 s) is widened so that a CI machine loaded enough to delay this process's
    # event loop by most of a second still passes; what is checked does not depend on it.
    # 200 workers stream back to back until the 6th token: the run crosses 4 expiries.
    policy = RefreshPolicy(margin_fraction=0.5)
    config = EmulatorConfig(token_lifetime=2.0, require_issued_tokens=True, itl=0.15)
    async with Emulator(config) as emu:
        auth = GoogleAuth(credentials(emu, private_key_pem), policy=policy)
        async with AsyncVertexChat(
            base_url=emu.base_url, auth=auth, max_connections=300
        ) as client:
            streams = 0

            async def worker() -> None:
                nonlocal streams
                while auth.stats.refreshes < 6:
                    stream = await client.chat.completions.create(
                        model=MODEL, messages=HELLO, max_tokens=6, stream=True
                    )
                    async with stream:
                        async for _ in stream:
                            pass
                    assert stream.finished
                    assert stream.completion.choices[0].finish_reason == "length"
                    streams += 1

            results = await asyncio.gather(*(worker() for _ in range(200)), return_exceptions=True)
            stats = client.auth_stats
        assert client.connections_in_use == 0
    assert [r for r in results if r is not None] == []
    assert stats is not None
    # Zero failures anywhere: no 401 at the emulator (no expired token was ever sent) ...
    assert emu.stats.rejected_auth == 0
    assert emu.stats.by_status == {200: streams}
    assert streams >= 600  # each of the 200 workers ran streams under several tokens
    assert stats.failures == 0 and stats.invalidations == 0
    # ... one token request per refresh cycle: single flight, never one per request ...
    assert emu.stats.token_requests == emu.stats.tokens_issued == stats.refreshes
    assert stats.refreshes >= 6
    assert emu.stats.token_scopes == {SCOPE: stats.refreshes}
    # ... and no request ever waited on a refresh while the old token was valid. The only
    # waits are the first requests, before any token existed.
    assert stats.waits_while_valid == 0
    assert 1 <= stats.waits <= 200
    assert stats.expires_in is not None and stats.expires_in > 0


async def test_first_use_shares_one_fetch_which_runs_off_the_loop(
    emu: Emulator, private_key_pem: str
) -> None:
    entered, release = threading.Event(), threading.Event()
    refresh_threads: list[int] = []

    class Gated(service_account.Credentials):  # type: ignore[misc]
        def refresh(self, request: Any) -> None:
            refresh_threads.append(threading.get_ident())
            entered.set()
            release.wait(10)
            super().refresh(request)

    auth = GoogleAuth(credentials(emu, private_key_pem, Gated))
    waiters = [asyncio.ensure_future(auth.headers()) for _ in range(100)]
    # The fetch is blocked on its thread and the loop still runs this test: not on the loop.
    await asyncio.to_thread(entered.wait, 10)
    assert auth.stats.waits == 100
    assert emu.stats.token_requests == 0
    release.set()
    headers = await asyncio.gather(*waiters)
    await auth.aclose()
    assert all(h is headers[0] for h in headers)
    assert headers[0]["Authorization"].startswith("Bearer emu-at.1.")
    assert emu.stats.token_requests == 1
    assert refresh_threads and threading.get_ident() not in refresh_threads
    assert auth.stats.refreshes == 1 and auth.stats.waits_while_valid == 0


# -- failures ------------------------------------------------------------------------------------
async def test_refresh_failures_keep_traffic_on_the_valid_token(private_key_pem: str) -> None:
    # A roomy margin (3/4 of 2 s) leaves time for the retries after the failures below.
    # Status 502: google-auth retries 500/503/504 itself, sleeping 1 s and 2 s in its thread;
    # 502 it does not, so each failure reaches our own backoff, which is what this exercises.
    policy = RefreshPolicy(margin_fraction=0.75)
    config = EmulatorConfig(token_lifetime=2.0, require_issued_tokens=True, ttft=0.01)
    async with Emulator(config) as emu:
        auth = GoogleAuth(credentials(emu, private_key_pem), policy=policy)
        async with AsyncVertexChat(base_url=emu.base_url, auth=auth) as client:
            await ask(client)
            assert auth.stats.refreshes == 1
            emu.state.tokens.fail_next(3, status=502)
            served = 0

            async def worker() -> None:
                nonlocal served
                while auth.stats.refreshes < 2:
                    await ask(client)
                    served += 1

            await asyncio.gather(*(worker() for _ in range(5)))
            stats = auth.stats
            await ask(client)  # and traffic goes on with the new token
    assert served > 0
    assert stats.failures == 3 and stats.consecutive_failures == 0
    assert stats.last_error is not None and "502" in stats.last_error
    assert stats.waits_while_valid == 0
    assert emu.stats.rejected_auth == 0
    assert emu.stats.token_errors == 3 and emu.stats.tokens_issued == 2
    assert emu.stats.token_requests == 5  # the first token, 3 failures, the recovery


async def test_expired_token_costs_one_401_and_one_refresh(
    emu: Emulator, private_key_pem: str
) -> None:
    auth = GoogleAuth(credentials(emu, private_key_pem))
    async with AsyncVertexChat(base_url=emu.base_url, auth=auth) as client:
        await ask(client)
        emu.state.tokens.revoke_all()  # the cached token is now unknown to the server
        await ask(client)
        stats = auth.stats
    assert emu.stats.rejected_auth == 1
    assert emu.stats.tokens_issued == 2
    assert stats.invalidations == 1 and stats.refreshes == 2
    assert stats.waits == 2  # the first request, and the retry after the 401
    assert stats.waits_while_valid == 0


async def test_a_401_storm_triggers_one_refresh_not_one_per_request(
    emu: Emulator, private_key_pem: str
) -> None:
    auth = GoogleAuth(credentials(emu, private_key_pem))
    async with AsyncVertexChat(base_url=emu.base_url, auth=auth) as client:
        await ask(client)
        emu.state.tokens.revoke_all()
        await asyncio.gather(*(ask(client) for _ in range(50)))
        stats = auth.stats
    assert emu.stats.rejected_auth == 50  # every request was sent with the revoked token
    assert emu.stats.tokens_issued == 2  # ... and all of them shared one new token
    assert stats.invalidations == 1


async def test_persistent_401_raises_authentication_error_with_hint(private_key_pem: str) -> None:
    config = EmulatorConfig(accepted_tokens=frozenset())  # nothing passes
    async with Emulator(config) as emu:
        auth = GoogleAuth(credentials(emu, private_key_pem))
        async with AsyncVertexChat(base_url=emu.base_url, auth=auth) as client:
            with pytest.raises(AuthenticationError) as info:
                await ask(client)
    assert info.value.reason == "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    assert "gcloud auth application-default login" in str(info.value)
    assert "cloud-platform" in str(info.value)
    assert emu.stats.rejected_auth == 2  # the request and its one retry
    assert emu.stats.tokens_issued == 2  # one refresh in between


async def test_refused_grant_raises_token_refresh_error(
    emu: Emulator, private_key_pem: str
) -> None:
    from aiovertexchat import TokenRefreshError

    emu.state.tokens.fail_next(1, status=400)
    auth = GoogleAuth(credentials(emu, private_key_pem))
    async with AsyncVertexChat(base_url=emu.base_url, auth=auth) as client:
        with pytest.raises(TokenRefreshError, match="could not get a Google access token") as err:
            await ask(client)
        assert emu.stats.by_status == {}  # nothing was sent without a token
        await ask(client)  # the endpoint answers again: the next request fetches a token
    assert "Error 400" in str(err.value)
    assert auth.stats.failures == 1 and auth.stats.refreshes == 1


# -- where credentials come from -----------------------------------------------------------------
@pytest.fixture
def no_adc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No key file, an empty gcloud config, not on Google Cloud."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setattr(_metadata, "_NO_GCE_CHECK", True)
    yield


async def test_application_default_credentials_from_key_file(
    emu: Emulator, private_key_pem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    no_adc: None,
) -> None:
    import google.auth

    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(sa_info(emu, private_key_pem)))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    discovery_threads: list[int] = []
    real_default = google.auth.default

    def recording_default(*args: Any, **kwargs: Any) -> Any:
        discovery_threads.append(threading.get_ident())
        return real_default(*args, **kwargs)

    monkeypatch.setattr(google.auth, "default", recording_default)
    async with AsyncVertexChat(base_url=emu.base_url, auth=GoogleAuth()) as client:
        await ask(client)
        await ask(client)
    assert len(discovery_threads) == 1 and threading.get_ident() not in discovery_threads
    assert emu.stats.token_scopes == {SCOPE: 1}


async def test_missing_adc_is_a_clear_error_at_first_use(no_adc: None) -> None:
    client = AsyncVertexChat(project="my-project", location="us-central1", environ={})
    assert "auth=google" in repr(client)  # chosen by default, and constructing did no I/O
    async with client:
        for _ in range(2):  # discovery is not retried: the second request fails at once
            with pytest.raises(ConfigurationError) as info:
                await ask(client)
            message = str(info.value)
            assert "GOOGLE_APPLICATION_CREDENTIALS" in message
            assert "gcloud auth application-default login" in message
        stats = client.auth_stats
    assert stats is not None and stats.failures == 1
    assert stats.last_error is not None and "GOOGLE_APPLICATION_CREDENTIALS" in stats.last_error
    assert our_tasks() == []


async def test_service_account_file(emu: Emulator, private_key_pem: str, tmp_path: Path) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(sa_info(emu, private_key_pem)))
    auth = GoogleAuth.from_service_account_file(key_file)
    async with AsyncVertexChat(base_url=emu.base_url, auth=auth) as client:
        await ask(client)
    assert emu.stats.token_scopes == {SCOPE: 1}


def test_service_account_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"missing\.json"):
        GoogleAuth.from_service_account_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "service_account"}')
    with pytest.raises(ConfigurationError, match=r"bad\.json"):
        GoogleAuth.from_service_account_file(bad)


def test_credentials_must_be_google_credentials() -> None:
    with pytest.raises(TypeError, match=r"google\.auth\.credentials\.Credentials"):
        GoogleAuth(credentials="ya29.not-credentials")


async def test_quota_project_header(emu: Emulator, private_key_pem: str) -> None:
    creds = credentials(emu, private_key_pem)
    explicit = GoogleAuth(creds, quota_project="billing-project")
    own = GoogleAuth(creds.with_quota_project("own-project"))
    plain = GoogleAuth(creds)
    try:
        assert (await explicit.headers())["x-goog-user-project"] == "billing-project"
        assert (await own.headers())["x-goog-user-project"] == "own-project"
        plain_headers = await plain.headers()
        assert "x-goog-user-project" not in plain_headers
        # One spelling, the client's: extra_headers={"Authorization": ...} replaces it.
        assert list(plain_headers) == ["Authorization"]
    finally:
        for auth in (explicit, own, plain):
            await auth.aclose()


# -- hygiene: secrets, tasks, redirects ------------------------------------------------------------
async def test_tokens_never_appear_in_logs_reprs_or_errors(
    private_key_pem: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiovertexchat")
    policy = RefreshPolicy(margin_fraction=0.75)
    config = EmulatorConfig(token_lifetime=2.0, require_issued_tokens=True)
    async with Emulator(config) as emu:
        issued: list[str] = []
        issue = emu.state.tokens.issue

        def recording_issue(now: float, lifetime: float) -> str:
            issued.append(issue(now, lifetime))
            return issued[-1]

        emu.state.tokens.issue = recording_issue  # type: ignore[method-assign]
        auth = GoogleAuth(credentials(emu, private_key_pem), policy=policy)
        async with AsyncVertexChat(base_url=emu.base_url, auth=auth) as client:
            await ask(client)
            emu.state.tokens.revoke_all()
            await ask(client)  # a 401, an invalidation, a refresh
            emu.state.tokens.fail_next(2, status=502)
            while auth.stats.refreshes < 3:  # failures, then a background refresh
                await ask(client, extra_headers={"X-Emulator-Fault": "stall:seconds=0.01"})
            texts = [repr(client), repr(auth), repr(auth.stats), caplog.text]
    assert len(issued) == 3
    assert "refresh failed" in caplog.text and "obtained a Google access token" in caplog.text
    assert "401" in caplog.text
    for text in texts:
        for token in issued:
            assert token not in text
            assert token.split(".")[-1] not in text
        assert "PRIVATE KEY" not in text


async def test_aclose_leaves_no_task_and_does_not_wait_for_a_hung_refresh(
    emu: Emulator, private_key_pem: str
) -> None:
    entered, release = threading.Event(), threading.Event()

    class Hung(service_account.Credentials):  # type: ignore[misc]
        def refresh(self, request: Any) -> None:
            entered.set()
            release.wait(10)
            super().refresh(request)

    client = AsyncVertexChat(
        base_url=emu.base_url, auth=GoogleAuth(credentials(emu, private_key_pem, Hung))
    )
    async with client:
        await asyncio.to_thread(entered.wait, 10)  # the prefetch started by the client is stuck
        assert {t.get_name() for t in our_tasks()} == {
            "aiovertexchat-token-refresh", "aiovertexchat-token-fetch",
        }
    assert our_tasks() == []
    release.set()
    for thread in threading.enumerate():
        if thread.name.startswith("aiovertexchat-auth"):
            await asyncio.to_thread(thread.join, 10)
            assert not thread.is_alive()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_authorization_never_follows_a_redirect(
    status: int, emu: Emulator, private_key_pem: str
) -> None:
    seen_elsewhere: list[dict[str, str]] = []
    seen_here: list[str | None] = []

    async def elsewhere(request: web.Request) -> web.Response:
        seen_elsewhere.append(dict(request.headers))
        return web.Response(text="{}")

    async with serve_app(elsewhere) as other_url:

        async def redirecting(request: web.Request) -> web.Response:
            seen_here.append(request.headers.get("Authorization"))
            return web.Response(
                status=status, headers={"Location": f"{other_url}/v1/chat/completions"}
            )

        async with serve_app(redirecting) as here_url:
            auth = GoogleAuth(credentials(emu, private_key_pem))
            async with AsyncVertexChat(base_url=f"{here_url}/v1", auth=auth) as c:
                with pytest.raises(APIStatusError) as info:
                    await ask(c)
    assert info.value.status_code == status
    assert "not followed" in str(info.value)
    assert len(seen_here) == 1 and (seen_here[0] or "").startswith("Bearer emu-at.")
    assert seen_elsewhere == []  # the other origin never saw a request, let alone the token


async def test_a_hung_token_endpoint_is_cut_off_by_refresh_timeout(
    emu: Emulator, private_key_pem: str
) -> None:
    from aiovertexchat import TokenRefreshError

    answered = asyncio.Event()

    async def never_answers(request: web.Request) -> web.Response:
        await request.read()
        await answered.wait()  # set only at cleanup: the client must give up first
        return web.Response(status=500)

    async with serve_app(never_answers, handler_cancellation=True, shutdown_timeout=0.5) as url:
        info = sa_info(emu, private_key_pem)
        info["token_uri"] = f"{url}/token"
        try:
            auth = GoogleAuth(
                service_account.Credentials.from_service_account_info(info), refresh_timeout=0.2
            )
            async with AsyncVertexChat(base_url=emu.base_url, auth=auth) as client:
                with pytest.raises(TokenRefreshError, match=r"(?i)timed? ?out") as err:
                    await ask(client)
        finally:
            answered.set()  # before the server stops: its handler must not hold the shutdown
    assert err.value.retryable
    assert emu.stats.by_status == {}

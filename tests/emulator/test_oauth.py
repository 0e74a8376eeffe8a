"""The emulator's OAuth2 token endpoint and its "only live tokens issued here" check."""

import base64
import json
import time
from typing import Any

import aiohttp
import pytest

from aiovertexchat.emulator import Emulator, EmulatorConfig
from aiovertexchat.emulator.oauth import JWT_BEARER_GRANT, TokenIssuer, check_assertion
from tests.helpers import FakeClock

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def assertion(now: float | None = None, **claims: Any) -> str:
    """A JWT shaped like google-auth's service-account grant (the signature is not checked)."""
    now = time.time() if now is None else now
    payload = {"iss": "sa@p.iam.gserviceaccount.com", "aud": "http://x/token", "iat": now,
               "exp": now + 3600, "scope": SCOPE, **claims}
    payload = {k: v for k, v in payload.items() if v is not None}
    return f"{_segment({'alg': 'RS256', 'typ': 'JWT'})}.{_segment(payload)}.c2ln"


async def _token(
    http: aiohttp.ClientSession, emu: Emulator, form: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = {"grant_type": JWT_BEARER_GRANT, "assertion": assertion()} if form is None else form
    async with http.post(emu.token_url, data=data) as resp:
        raw = await resp.read()
        try:
            return resp.status, json.loads(raw)
        except ValueError:
            return resp.status, raw.decode()


async def _chat(http: aiohttp.ClientSession, emu: Emulator, token: str) -> tuple[int, Any]:
    async with http.post(
        emu.base_url + "/chat/completions", json=CHAT,
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        return resp.status, await resp.json()


async def test_issues_opaque_tokens_with_the_configured_lifetime(
    http: aiohttp.ClientSession,
) -> None:
    async with Emulator(EmulatorConfig(token_lifetime=2.5)) as emu:
        status, body = await _token(http, emu)
        status2, body2 = await _token(http, emu)
    assert status == status2 == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 2.5
    assert body["access_token"].startswith("emu-at.1.")
    assert body2["access_token"].startswith("emu-at.2.")
    assert emu.stats.token_requests == emu.stats.tokens_issued == 2
    assert emu.stats.token_errors == 0
    assert emu.stats.token_scopes == {SCOPE: 2}
    assert emu.stats.by_status == {}  # chat answers only


async def test_whole_second_lifetimes_are_sent_as_integers(http: aiohttp.ClientSession) -> None:
    async with Emulator() as emu:
        _, body = await _token(http, emu)
    assert body["expires_in"] == 3600 and isinstance(body["expires_in"], int)


@pytest.mark.parametrize(
    ("form", "error", "needle"),
    [
        ({"grant_type": "client_credentials", "assertion": "a.b.c"}, "unsupported_grant_type",
         "client_credentials"),
        ({"grant_type": JWT_BEARER_GRANT}, "invalid_grant", "header.payload.signature"),
        ({"grant_type": JWT_BEARER_GRANT, "assertion": "a.b"}, "invalid_grant", "header"),
        ({"grant_type": JWT_BEARER_GRANT, "assertion": "a.!!!.c"}, "invalid_grant", "unreadable"),
        ({"grant_type": JWT_BEARER_GRANT, "assertion": assertion(scope=None)}, "invalid_grant",
         "scope"),
        ({"grant_type": JWT_BEARER_GRANT, "assertion": assertion(now=time.time() - 7200)},
         "invalid_grant", "reasonable timeframe"),
    ],
)
async def test_refuses_bad_grants_as_google_does(
    http: aiohttp.ClientSession, form: dict[str, str], error: str, needle: str
) -> None:
    async with Emulator() as emu:
        status, body = await _token(http, emu, form)
    assert status == 400
    assert body["error"] == error
    assert needle in body["error_description"]
    assert emu.stats.token_errors == 1 and emu.stats.tokens_issued == 0


async def test_get_is_405(http: aiohttp.ClientSession) -> None:
    async with Emulator() as emu, http.get(emu.token_url) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "POST"


async def test_fails_on_demand_then_recovers(http: aiohttp.ClientSession) -> None:
    async with Emulator() as emu:
        emu.state.tokens.fail_next(2, status=503)
        first = await _token(http, emu)
        second = await _token(http, emu)
        third = await _token(http, emu)
    assert first[0] == second[0] == 503
    assert "Error 503" in first[1]  # Google's front-end HTML page, not JSON
    assert third[0] == 200 and third[1]["access_token"]
    assert emu.stats.token_errors == 2 and emu.stats.tokens_issued == 1
    assert emu.stats.token_requests == 3


async def test_only_live_issued_tokens_pass(http: aiohttp.ClientSession) -> None:
    clock = FakeClock(1000.0)
    config = EmulatorConfig(token_lifetime=10, require_issued_tokens=True,
                            accepted_tokens=frozenset({"static-ok"}))
    async with Emulator(config, clock=clock) as emu:
        _, body = await _token(http, emu)
        token = body["access_token"]
        assert (await _chat(http, emu, token))[0] == 200
        assert (await _chat(http, emu, "static-ok"))[0] == 200  # accepted_tokens still pass
        clock.now += 9.9
        assert (await _chat(http, emu, token))[0] == 200
        clock.now += 0.1  # expired on the emulator's clock
        status, error = await _chat(http, emu, token)
        unknown, _ = await _chat(http, emu, "emu-at.99.made-up")
    assert status == unknown == 401
    assert error["error"]["status"] == "UNAUTHENTICATED"
    assert error["error"]["details"][0]["reason"] == "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    assert emu.stats.rejected_auth == 2
    assert emu.stats.by_status == {200: 3, 401: 2}


async def test_revoked_tokens_are_refused(http: aiohttp.ClientSession) -> None:
    async with Emulator(EmulatorConfig(require_issued_tokens=True)) as emu:
        _, body = await _token(http, emu)
        assert emu.state.tokens.revoke_all() == 1
        status, _ = await _chat(http, emu, body["access_token"])
    assert status == 401


async def test_without_require_issued_tokens_any_bearer_token_passes(
    http: aiohttp.ClientSession,
) -> None:
    async with Emulator() as emu:
        assert (await _chat(http, emu, "anything"))[0] == 200
    assert emu.stats.rejected_auth == 0


def test_issuer_prunes_expired_tokens() -> None:
    issuer = TokenIssuer()
    first = issuer.issue(0.0, 5.0)
    second = issuer.issue(1.0, 5.0)
    assert issuer.is_live(first, 4.9) and not issuer.is_live(first, 5.0)
    issuer.issue(5.5, 5.0)  # prunes `first`, keeps `second`
    assert issuer.live_tokens == 2
    assert issuer.is_live(second, 5.9)
    assert issuer.revoke_all() == 2 and issuer.live_tokens == 0


def test_issuer_failures_count_down() -> None:
    issuer = TokenIssuer()
    issuer.fail_next(2, status=502)
    assert [issuer.take_failure() for _ in range(3)] == [502, 502, None]
    with pytest.raises(ValueError):
        issuer.fail_next(1, status=200)
    with pytest.raises(ValueError):
        issuer.fail_next(-1)


def test_check_assertion_reads_the_claims() -> None:
    now = time.time()
    claims = check_assertion(assertion(now=now), now)
    assert claims.iss == "sa@p.iam.gserviceaccount.com"
    assert claims.scope == SCOPE
    with pytest.raises(ValueError, match="short-lived"):
        check_assertion(assertion(now=now, exp=now + 7 * 3600), now)


def test_token_lifetime_must_be_positive() -> None:
    with pytest.raises(ValueError, match="token_lifetime"):
        EmulatorConfig(token_lifetime=0)

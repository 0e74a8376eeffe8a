"""An OAuth2 token endpoint, as google-auth's service-account credentials talk to it.

`POST /token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>`
(what `google.oauth2.service_account.Credentials` sends to its `token_uri`) answers
`{"access_token": ..., "expires_in": ..., "token_type": "Bearer"}` with an opaque token that
lives `config.token_lifetime` seconds. The assertion's claims are checked (issuer, audience,
scope, times); its signature is not: the emulator holds no public keys.

`TokenIssuer` is the sans-IO part (issued tokens, their expiry, failures on demand), so the
chat routes can ask "is this a live token issued here?" (`config.require_issued_tokens`).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from .errors import fault_reply
from .faults import Fault

if TYPE_CHECKING:
    from .server import EmulatorState

__all__ = ["JWT_BEARER_GRANT", "TOKEN_PATH", "TokenIssuer", "check_assertion", "token_handler"]

TOKEN_PATH = "/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Google accepts assertions valid for at most an hour; a little slack for clock differences.
_MAX_ASSERTION_SECONDS = 3600 + 300
_CLOCK_SLACK = 300

_JSON = "application/json; charset=utf-8"


class TokenIssuer:
    """The tokens an emulator has issued, until they expire; failures on demand."""

    def __init__(self) -> None:
        self._live: dict[str, float] = {}  # token -> expiry on the emulator's clock
        self._numbers = itertools.count(1)
        self._failures_left = 0
        self._failure_status = 500

    def issue(self, now: float, lifetime: float) -> str:
        self._prune(now)
        # Opaque, unguessable, and visibly the emulator's (never mistaken for a real token).
        token = f"emu-at.{next(self._numbers)}.{secrets.token_urlsafe(12)}"
        self._live[token] = now + lifetime
        return token

    def is_live(self, token: str, now: float) -> bool:
        expires_at = self._live.get(token)
        return expires_at is not None and now < expires_at

    @property
    def live_tokens(self) -> int:
        return len(self._live)

    def revoke_all(self) -> int:
        """Forget every issued token (they now get the 401 of an expired token)."""
        count = len(self._live)
        self._live.clear()
        return count

    def fail_next(self, count: int, status: int = 500) -> None:
        """The next `count` token requests fail with `status` (Google's HTML error page).

        google-auth retries 500/503/504/408/429 itself (up to 3 attempts, 1 s and 2 s apart,
        inside one refresh); other statuses fail a refresh at the first answer.
        """
        if count < 0 or not 400 <= status <= 599:
            raise ValueError("count must be >= 0 and status an HTTP error status")
        self._failures_left = count
        self._failure_status = status

    def take_failure(self) -> int | None:
        """The status to fail this request with, or None to answer normally."""
        if self._failures_left <= 0:
            return None
        self._failures_left -= 1
        return self._failure_status

    def _prune(self, now: float) -> None:
        # Tokens are issued in order, so expired ones sit at the front (unless the lifetime
        # was shortened meanwhile; those few are dropped on a later call).
        expired = []
        for token, expires_at in self._live.items():
            if expires_at > now:
                break
            expired.append(token)
        for token in expired:
            del self._live[token]


class AssertionClaims(msgspec.Struct, frozen=True):
    iss: str
    aud: str
    iat: float
    exp: float
    scope: str = ""


_claims_decoder = msgspec.json.Decoder(AssertionClaims)


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def check_assertion(assertion: str, now: float) -> AssertionClaims:
    """The claims of a JWT-bearer assertion; ValueError says what is wrong (`now`: epoch s)."""
    parts = assertion.split(".")
    if len(parts) != 3 or not all(parts):
        raise ValueError("Invalid JWT: the assertion is not header.payload.signature")
    try:
        claims = _claims_decoder.decode(_b64url(parts[1]))
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise ValueError(f"Invalid JWT: unreadable claims ({exc})") from exc
    if not claims.scope.strip():
        raise ValueError("Invalid JWT: no scope claim; request at least one OAuth scope")
    if claims.exp <= claims.iat or claims.exp - claims.iat > _MAX_ASSERTION_SECONDS:
        raise ValueError("Invalid JWT: Token must be a short-lived token (60 minutes)")
    if claims.exp < now - _CLOCK_SLACK or claims.iat > now + _CLOCK_SLACK:
        raise ValueError(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe. Check your iat and exp values in the JWT claim."
        )
    return claims


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    body = msgspec.json.encode({"error": error, "error_description": description})
    return web.Response(status=status, body=body, content_type="application/json")


def _expires_in(lifetime: float) -> int | float:
    # OAuth sends whole seconds; fractions only when a test asked for them.
    return int(lifetime) if float(lifetime).is_integer() else lifetime


def token_handler(state: EmulatorState) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The aiohttp handler of `POST /token` for one emulator."""

    async def handle(request: web.Request) -> web.Response:
        stats = state.stats
        stats.requests += 1
        stats.token_requests += 1
        if request.method != "POST":
            stats.token_errors += 1
            return web.Response(status=405, headers={"Allow": "POST"})
        failure = state.tokens.take_failure()
        if failure is not None:
            stats.token_errors += 1
            reply = fault_reply(Fault(kind="html-error", code=failure))
            return web.Response(
                status=reply.status, body=reply.body, headers={"Content-Type": reply.content_type}
            )
        form: Any = await request.post()
        grant_type = form.get("grant_type")
        if grant_type != JWT_BEARER_GRANT:
            stats.token_errors += 1
            return _oauth_error(
                400, "unsupported_grant_type", f"Invalid grant_type: {grant_type or ''}"
            )
        assertion = form.get("assertion")
        try:
            claims = check_assertion(
                assertion if isinstance(assertion, str) else "", state.wall_clock()
            )
        except ValueError as exc:
            stats.token_errors += 1
            return _oauth_error(400, "invalid_grant", str(exc))
        lifetime = state.config.token_lifetime
        token = state.tokens.issue(state.clock(), lifetime)
        stats.tokens_issued += 1
        stats.token_scopes[claims.scope] += 1
        body = {"access_token": token, "expires_in": _expires_in(lifetime), "token_type": "Bearer"}
        return web.Response(
            body=msgspec.json.encode(body),
            headers={"Content-Type": _JSON, "Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    return handle

"""Token sources: where the `Authorization` header comes from.

Every source implements `AuthProvider`. The client asks for headers once per request attempt, so
a source must answer from a cache on the hot path and never block the event loop. A 401 from the
API calls `invalidate()`; sources that can mint a new token (`refreshable`) get one retry.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, runtime_checkable

from .._redact import remember_secret

__all__ = ["AuthProvider", "CallableToken", "NoAuth", "StaticToken", "TokenFunc"]

TokenFunc = Callable[[], "str | Awaitable[str]"]


@runtime_checkable
class AuthProvider(Protocol):
    """What the client needs from a token source."""

    #: Short label shown in the client's repr ("static", "callable", "google", "none").
    kind: str
    #: Whether `invalidate()` followed by `headers()` can yield a different, working token.
    refreshable: bool

    async def start(self) -> None:
        """Start background work (e.g. refresh ahead of expiry). Called once by the client."""

    async def headers(self) -> Mapping[str, str]:
        """Headers to add to a request. Fast when a valid token is cached."""

    def invalidate(self) -> None:
        """The API rejected the current token: forget it."""

    async def aclose(self) -> None:
        """Stop background work. Idempotent."""


class _Base:
    kind = "none"
    refreshable = False

    async def start(self) -> None:
        return None

    def invalidate(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def __repr__(self) -> str:
        # Never show a token, not even a prefix.
        return f"<{type(self).__name__} kind={self.kind}>"


class NoAuth(_Base):
    """Sends no Authorization header (local servers that need none)."""

    kind = "none"

    async def headers(self) -> Mapping[str, str]:
        return {}


class StaticToken(_Base):
    """A fixed bearer token or API key (e.g. `OPENAI_API_KEY` holding an access token)."""

    kind = "static"

    def __init__(self, token: str) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError("the token is empty: pass a non-empty api_key or use another source")
        remember_secret(token)  # cut out of any text that would quote it
        self._token = token.strip()
        self._headers = {"Authorization": f"Bearer {self._token}"}

    @property
    def token(self) -> str:
        """The token sent (what `client.api_key` reads); never shown in reprs or logs."""
        return self._token

    async def headers(self) -> Mapping[str, str]:
        return self._headers


class CallableToken(_Base):
    """A caller-supplied function (sync or async) that returns a bearer token.

    The function is called for the first request and again after a 401; between those the token is
    cached, so a slow function costs nothing per request. A sync function must be cheap: it runs
    on the event loop.
    """

    kind = "callable"
    refreshable = True

    def __init__(self, func: TokenFunc) -> None:
        if not callable(func):
            raise TypeError("the token source must be a callable returning a token string")
        self._func = func
        self._headers: dict[str, str] | None = None

    async def headers(self) -> Mapping[str, str]:
        cached = self._headers
        if cached is not None:
            return cached
        token = self._func()
        if inspect.isawaitable(token):
            token = await token
        if not isinstance(token, str) or not token.strip():
            raise TypeError("the token callable returned no token (expected a non-empty str)")
        remember_secret(token)  # this one and the previous ones stay known secrets
        self._headers = {"Authorization": f"Bearer {token.strip()}"}
        return self._headers

    def invalidate(self) -> None:
        self._headers = None

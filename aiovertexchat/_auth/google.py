"""`GoogleAuth`: Google credentials (ADC or explicit) with a refresh that never stalls traffic.

How requests keep flowing:
- `headers()` answers from a cached header dict after one clock comparison; requests never call
  google-auth themselves.
- A background task (started by `start()`, i.e. by the client, cancelled by `aclose()`) refreshes
  the token ahead of expiry, and retries failures with backoff while the old token still works
  (`token_schedule` decides when).
- Only when no usable token exists (first use, after a 401, or after expiry while refreshes kept
  failing) do requests wait, and then all of them share one fetch (single flight).

google-auth is blocking (file reads, metadata-server probes, token HTTP with `requests`): ADC
discovery and every refresh run on a one-thread executor owned by this object, never on the
event loop, and never queued behind whatever else the application runs in the default executor.
The blocking calls live in `_google_blocking`, imported on that thread.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import math
import random
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any

import anyio

from .._redact import describe_error, stand_in
from ..errors import ConfigurationError, TokenRefreshError
from .schedule import RefreshPolicy, TokenSchedule

if TYPE_CHECKING:
    from .google_blocking import Fresh

__all__ = ["CLOUD_PLATFORM_SCOPE", "AuthStats", "GoogleAuth", "TokenNetwork"]

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

logger = logging.getLogger("aiovertexchat.auth")

# aclose(): how often a task that has not ended is cancelled again, and when it is abandoned.
_CLOSE_POLL = 0.05
_CLOSE_LIMIT = 5.0

_INSTALL_HINT = (
    "GoogleAuth needs google-auth with its requests transport: "
    "pip install 'google-auth[requests]'"
)


@dataclass(frozen=True)
class AuthStats:
    """A snapshot of a token source's refresh history (`client.auth_stats`)."""

    kind: str
    refreshes: int
    """Tokens obtained (the first one included)."""
    failures: int
    """Failed attempts to obtain a token, in total."""
    consecutive_failures: int
    """Failed attempts since the last success."""
    last_refresh_at: float | None
    """Wall-clock time (`time.time()`) of the last token obtained."""
    expires_in: float | None
    """Seconds until the current token expires (negative once expired); None without a token,
    or for a token without an expiry."""
    waits: int
    """Requests that had to wait for a token (first use, after a 401, after expiry)."""
    waits_while_valid: int
    """... of which the previous token had not expired yet (0 when refresh runs ahead)."""
    invalidations: int
    """Tokens dropped because the API answered 401."""
    last_error: str | None
    """The last failure, one line, without secrets."""


@dataclass(frozen=True)
class TokenNetwork:
    """The proxy and TLS settings of token requests: the client's own (see `_http.network`)."""

    proxy_for: Callable[[str], str | None]
    """The proxy for a URL, or None to connect directly."""
    ssl_context: ssl.SSLContext | None
    """The context servers are verified with; None: not verified (`ssl=False`)."""


class _Token:
    """A token as requests see it: the headers to send and until when to send them."""

    __slots__ = ("expires_at", "headers", "owner", "usable_until")

    def __init__(
        self, owner: GoogleAuth, headers: Mapping[str, str], expires_at: float, usable_until: float
    ) -> None:
        self.owner = owner
        self.headers = headers
        self.expires_at = expires_at
        self.usable_until = usable_until

    def __repr__(self) -> str:
        return f"<token expires_at={self.expires_at}>"


# The token a task last sent, so that the 401 it gets back invalidates that token and not a
# newer one fetched meanwhile by another task: with hundreds of requests answered 401 at once,
# invalidating "whatever is current" would throw away each fresh token and refresh again and
# again. The client calls headers() and, after a 401, invalidate() in the same task.
_SENT: contextvars.ContextVar[_Token | None] = contextvars.ContextVar(
    "aiovertexchat_sent_token", default=None
)


def _copy(error: Exception) -> Exception:
    """A new exception like `error` for each waiter (one object raised in many tasks would
    pile up their tracebacks)."""
    copy: Exception
    if isinstance(error, TokenRefreshError):
        copy = TokenRefreshError(error.message, retryable=error.retryable)
    elif isinstance(error, ConfigurationError):
        copy = ConfigurationError(str(error))
    else:  # pragma: no cover - _fetch only produces the two above
        copy = TokenRefreshError(describe_error(error))
    copy.__cause__ = error.__cause__
    return copy


class GoogleAuth:
    """Bearer tokens from Google credentials, refreshed in the background ahead of expiry.

    `GoogleAuth()` uses Application Default Credentials (found at first use, in a thread);
    `GoogleAuth(credentials=...)` any google-auth credentials; `from_service_account_file()` a
    key file. `quota_project` (else the credentials' own, if any) is sent as
    `x-goog-user-project`. The client that uses it starts and closes it.
    """

    kind = "google"
    refreshable = True

    def __init__(
        self,
        credentials: Any = None,
        *,
        quota_project: str | None = None,
        scopes: Sequence[str] = (CLOUD_PLATFORM_SCOPE,),
        refresh_timeout: float = 30.0,
        policy: RefreshPolicy | None = None,
    ) -> None:
        if isinstance(scopes, str):
            raise TypeError("scopes must be a sequence of scope URLs, not one string")
        self._scopes = tuple(scopes)
        if credentials is not None:
            try:
                import google.auth.credentials
            except ImportError as exc:  # pragma: no cover - google-auth is a dependency
                raise ConfigurationError(_INSTALL_HINT) from exc
            if not isinstance(credentials, google.auth.credentials.Credentials):
                raise TypeError("credentials must be google.auth.credentials.Credentials")
            # e.g. a service account built without scopes: its token would not be accepted.
            credentials = google.auth.credentials.with_scopes_if_required(  # type: ignore[no-untyped-call]
                credentials, list(self._scopes)
            )
        if refresh_timeout <= 0:
            raise ValueError("refresh_timeout must be > 0")
        self._credentials: Any = credentials
        # The project Application Default Credentials name (set by discovery).
        self._adc_project: str | None = None
        self._quota_project = quota_project
        self._refresh_timeout = refresh_timeout
        self._schedule = TokenSchedule(policy, random.random)
        self._token: _Token | None = None
        self._fatal: ConfigurationError | None = None
        self._inflight: asyncio.Task[Exception | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False
        # Counters behind `stats`.
        self._refreshes = 0
        self._failures = 0
        self._waits = 0
        self._waits_while_valid = 0
        self._invalidations = 0
        self._last_refresh_at: float | None = None
        self._last_error: str | None = None
        # The client's proxy and TLS settings (`use_network`); None: requests' defaults.
        self._network: TokenNetwork | None = None

    @classmethod
    def from_service_account_file(
        cls,
        path: str | PathLike[str],
        *,
        quota_project: str | None = None,
        scopes: Sequence[str] = (CLOUD_PLATFORM_SCOPE,),
        refresh_timeout: float = 30.0,
        policy: RefreshPolicy | None = None,
    ) -> GoogleAuth:
        """Credentials from a service-account JSON key file (read now: a bad path fails here)."""
        try:
            from google.oauth2 import service_account
        except ImportError as exc:  # pragma: no cover - google-auth is a dependency
            raise ConfigurationError(_INSTALL_HINT) from exc
        try:
            credentials = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                str(path), scopes=list(scopes)
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigurationError(
                f"cannot use {str(path)!r} as a service-account key file "
                f"({describe_error(exc)}): download a JSON key of type service_account "
                "(IAM > Service accounts > Keys) or use Application Default Credentials"
            ) from exc
        return cls(
            credentials,
            quota_project=quota_project,
            scopes=scopes,
            refresh_timeout=refresh_timeout,
            policy=policy,
        )

    def __repr__(self) -> str:
        return f"<GoogleAuth kind={self.kind}>"

    def use_network(self, network: TokenNetwork) -> None:
        """Send token requests through the client's proxy and with its TLS settings.

        Called by the client that uses this source, before its first request.
        """
        self._network = network

    # -- the request path ----------------------------------------------------------------------
    async def headers(self) -> Mapping[str, str]:
        token = self._token
        if token is None or time.monotonic() >= token.usable_until:
            token = await self._wait_for_token(token)
        _SENT.set(token)
        return token.headers

    async def _wait_for_token(self, stale: _Token | None) -> _Token:
        if self._closed:
            raise RuntimeError("this GoogleAuth is closed")
        if self._fatal is not None:
            raise _copy(self._fatal)
        self._waits += 1
        if stale is not None and time.monotonic() < stale.expires_at:
            # The background refresh did not deliver in time (it is failing, or the loop was
            # too busy to run it): the case the refresh-ahead design exists to prevent.
            self._waits_while_valid += 1
        for _ in range(3):
            error = await self._refresh_shared()
            token = self._token
            if error is None:
                if token is not None:
                    return token
                continue  # a 401 elsewhere dropped the new token already: fetch again
            if token is not None and token is stale and time.monotonic() < token.expires_at:
                return token  # the refresh failed but the old token has not expired: use it
            raise _copy(error)
        raise TokenRefreshError(
            "every new Google access token was rejected at once; check the credentials"
        )

    def invalidate(self) -> None:
        """The API answered 401 to the token this task sent: drop it, unless already replaced."""
        current = self._token
        if current is None:
            return
        sent = _SENT.get()
        if sent is not None and sent.owner is self and sent is not current:
            return  # that token was already replaced by a newer one
        self._token = None
        self._invalidations += 1
        self._schedule.on_invalidate()
        logger.info("the API rejected the Google access token (401); fetching a new one")

    # -- fetching --------------------------------------------------------------------------------
    async def _refresh_shared(self) -> Exception | None:
        """Join the fetch in progress, or start one: at most one runs at any time."""
        task = self._inflight
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._fetch(), name="aiovertexchat-token-fetch"
            )
            self._inflight = task
        # A waiter that is cancelled leaves the shared fetch running for the others.
        return await asyncio.shield(task)

    def _executor(self) -> ThreadPoolExecutor:
        pool = self._pool
        if pool is None:
            pool = self._pool = ThreadPoolExecutor(1, thread_name_prefix="aiovertexchat-auth")
        return pool

    async def project(self) -> str | None:
        """The Google Cloud project these credentials name: Application Default Credentials'
        project (`google.auth.default()`), or the given credentials' own `project_id` / quota
        project; None when they name none.

        Runs ADC discovery (on this source's thread, never the event loop) unless a token fetch
        already did. Raises `ConfigurationError` when no credentials are found.
        """
        if self._closed:
            raise RuntimeError("this GoogleAuth is closed")
        if self._credentials is None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor(), self._blocking_discover)
        if self._adc_project:
            return self._adc_project
        credentials = self._credentials
        for name in ("project_id", "quota_project_id"):
            value = getattr(credentials, name, None)
            if isinstance(value, str) and value:
                return value
        return None

    def _blocking_discover(self) -> None:
        """Runs on the worker thread: ADC discovery, once (calls are serialised there)."""
        if self._credentials is not None:
            return
        try:
            from . import google_blocking as blocking
        except ImportError as exc:
            raise ConfigurationError(f"{_INSTALL_HINT} ({describe_error(exc)})") from exc
        self._credentials, self._adc_project = blocking.discover_with_project(self._scopes)

    async def _fetch(self) -> Exception | None:
        """One fetch; returns the error instead of raising it (it is shared by many waiters)."""
        try:
            pool = self._executor()
            try:
                fresh = await asyncio.get_running_loop().run_in_executor(pool, self._blocking_fetch)
            except (ConfigurationError, TokenRefreshError) as exc:
                self._on_failure(exc)
                return exc
            except Exception as exc:  # a credentials plug-in failing in its own way
                error = TokenRefreshError(
                    f"could not get a Google access token: {describe_error(exc)}"
                )
                error.__cause__ = stand_in(exc)
                self._on_failure(error)
                return error
            self._on_success(fresh)
            return None
        finally:
            self._inflight = None
            self._wake.set()  # the background task re-reads the schedule

    def _blocking_fetch(self) -> Fresh:
        """Runs on the worker thread: discovery (first time) and one refresh."""
        try:
            from . import google_blocking as blocking
        except ImportError as exc:
            raise ConfigurationError(f"{_INSTALL_HINT} ({describe_error(exc)})") from exc
        if self._credentials is None:
            # Only this thread touches the credentials object, one call at a time.
            self._blocking_discover()
        credentials = self._credentials
        return blocking.refresh(
            credentials, self._quota_project, self._refresh_timeout, self._network
        )

    def _on_success(self, fresh: Fresh) -> None:
        schedule = self._schedule
        schedule.on_success(fresh.obtained_at, fresh.expires_at)
        assert schedule.usable_until is not None
        expires_at = math.inf if fresh.expires_at is None else fresh.expires_at
        self._token = _Token(self, fresh.headers, expires_at, schedule.usable_until)
        self._refreshes += 1
        self._last_refresh_at = time.time()
        if schedule.lifetime is None:
            logger.info("obtained a Google access token (no expiry given)")
        else:
            logger.info(
                "obtained a Google access token, valid for %.3g s; next refresh in %.3g s",
                schedule.lifetime,
                schedule.refresh_at - fresh.obtained_at,
            )

    def _on_failure(self, error: Exception) -> None:
        self._failures += 1
        if isinstance(error, ConfigurationError) or error.__cause__ is None:
            detail = str(error)  # our own words, no secrets, with the hint
        else:
            detail = describe_error(error.__cause__)  # the cause, briefly, secrets cut out
        self._last_error = detail
        if isinstance(error, ConfigurationError):
            # Nothing a retry can fix: every request reports it; the background task stops.
            self._fatal = error
            logger.error("Google credentials are not usable: %s", detail)
            return
        now = time.monotonic()
        delay = self._schedule.on_failure(now)
        token = self._token
        if token is not None and now < token.expires_at:
            logger.warning(
                "Google token refresh failed (attempt %d): %s; retrying in %.3g s while the "
                "current token stays valid for %.3g s",
                self._schedule.failures, detail, delay, token.expires_at - now,
            )
        else:
            logger.error(
                "Google token refresh failed (attempt %d): %s; no valid token, so requests "
                "fail until a refresh succeeds; retrying in %.3g s",
                self._schedule.failures, detail, delay,
            )

    # -- background refresh ----------------------------------------------------------------------
    async def start(self) -> None:
        """Start the background refresh; its first step fetches the first token (prefetch)."""
        if self._closed:
            raise RuntimeError("this GoogleAuth is closed")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="aiovertexchat-token-refresh"
            )

    async def _run(self) -> None:
        schedule = self._schedule
        # `_closed` is checked on every turn: closing never depends on a cancellation arriving
        # (Python 3.10 and 3.11 can lose one that lands as an awaited call completes).
        while self._fatal is None and not self._closed:
            self._wake.clear()
            delay = schedule.delay(time.monotonic())
            if delay is None or delay > 0:
                # A cancel scope, not asyncio.wait_for: wait_for is what loses cancellations.
                with anyio.move_on_after(math.inf if delay is None else delay):
                    await self._wake.wait()
                continue
            await self._refresh_shared()  # records success or failure and reschedules

    async def aclose(self) -> None:
        """Cancel and await the background task and any fetch; idempotent and bounded.

        The tasks are cancelled again every `_CLOSE_POLL` seconds until they end, and
        abandoned (with a warning) after `_CLOSE_LIMIT` seconds, so closing the client never
        hangs on them. A refresh already running on the worker thread is not waited for.
        """
        self._closed = True
        self._wake.set()  # the background loop sees `_closed` at once
        pending = {task for task in (self._task, self._inflight) if task is not None}
        self._task = None
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + _CLOSE_LIMIT
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=_CLOSE_POLL)
            if pending and loop.time() >= give_up_at:
                logger.warning(
                    "GoogleAuth.aclose(): %d task(s) ignored cancellation for %.3g s; "
                    "abandoned", len(pending), _CLOSE_LIMIT,
                )
                break
        pool, self._pool = self._pool, None
        if pool is not None:
            # A refresh already on the thread finishes by itself (bounded by refresh_timeout);
            # its result is dropped. The thread then exits.
            pool.shutdown(wait=False, cancel_futures=True)

    # -- observability -----------------------------------------------------------------------------
    @property
    def stats(self) -> AuthStats:
        token = self._token
        expires_in = None
        if token is not None and not math.isinf(token.expires_at):
            expires_in = token.expires_at - time.monotonic()
        return AuthStats(
            kind=self.kind,
            refreshes=self._refreshes,
            failures=self._failures,
            consecutive_failures=self._schedule.failures,
            last_refresh_at=self._last_refresh_at,
            expires_in=expires_in,
            waits=self._waits,
            waits_while_valid=self._waits_while_valid,
            invalidations=self._invalidations,
            last_error=self._last_error,
        )

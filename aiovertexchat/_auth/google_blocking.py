"""The blocking half of `GoogleAuth`: every call into google-auth, run in a worker thread only.

google-auth does file reads, metadata-server probes and token HTTP with `requests`, all blocking.
`google_auth.py` imports this module lazily from its worker thread, so importing aiovertexchat
does not import google-auth, and nothing here ever runs on the event loop.
"""

from __future__ import annotations

import datetime
import logging
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
import requests
import requests.adapters

from .._redact import (
    describe_error,
    redact_json,
    remember_auth_header,
    remember_secret,
    remember_secrets_in_form,
    stand_in,
)
from ..errors import ConfigurationError, TokenRefreshError

if TYPE_CHECKING:
    from .google import TokenNetwork

__all__ = ["MISSING_ADC_HINT", "Fresh", "discover", "discover_with_project", "refresh"]

MISSING_ADC_HINT = (
    "no Google credentials found (Application Default Credentials). Run "
    "`gcloud auth application-default login` on a workstation, or set "
    "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or run on Google Cloud "
    "with an attached service account; or pass api_key=/token=/auth= to AsyncVertexChat"
)


_CANONICAL = {"authorization": "Authorization"}


class _RedactRecords(logging.Filter):
    """google-auth logs each token request at DEBUG with its headers and body as record
    attributes (`httpRequest`, `httpResponse`), which structured-log handlers print; it hashes
    some fields but not the JWT assertion nor the headers. Ours are redacted before they leave."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name in ("httpRequest", "httpResponse"):
            value = getattr(record, name, None)
            if value is not None:
                setattr(record, name, redact_json(value))
        return True


def _install_log_filter() -> None:
    logger = logging.getLogger("google.auth.transport.requests")
    if not any(isinstance(f, _RedactRecords) for f in logger.filters):
        logger.addFilter(_RedactRecords())


_install_log_filter()


class _ContextAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter verifying servers with our `ssl.SSLContext`.

    requests only takes a CA bundle path (`verify=`), and by default trusts certifi's bundle
    rather than the system's: this adapter makes token refreshes trust exactly what chat calls
    trust. It also keeps requests from loading its own bundle into the shared context.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        pool_kwargs.pop("ca_certs", None)
        pool_kwargs.pop("ca_cert_dir", None)
        pool_kwargs["ssl_context"] = self._context
        # urllib3 writes this into the context: keep it what the context already says.
        pool_kwargs["cert_reqs"] = self._context.verify_mode
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        conn.cert_reqs = self._context.verify_mode
        conn.ca_certs = None
        conn.ca_cert_dir = None


def _session(network: TokenNetwork | None) -> requests.Session:
    session = requests.Session()
    if network is None:
        return session  # requests' own defaults (a GoogleAuth used without a client)
    # Proxies are chosen per URL by `network`, never re-read by requests (nor ~/.netrc).
    session.trust_env = False
    if network.ssl_context is None:
        session.verify = False
    else:
        adapter = _ContextAdapter(network.ssl_context)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    return session


class _TimedRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport with our timeout instead of its 120 s default, our
    proxy choice, and every secret it sends registered for redaction."""

    def __init__(
        self, session: requests.Session, timeout: float, network: TokenNetwork | None = None
    ) -> None:
        super().__init__(session)
        self._timeout = timeout
        self._network = network

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> Any:
        if timeout is None:
            timeout = self._timeout
        elif isinstance(timeout, (int, float)):
            timeout = min(timeout, self._timeout)
        # (a (connect, read) tuple from google-auth is passed through as it is)
        # The assertion (or refresh token, client secret) in the body, and any credential in
        # the headers, become known secrets before they are sent: an error that quotes them
        # is redacted.
        remember_secrets_in_form(body)
        for name, value in (headers or {}).items():
            if str(name).lower() in ("authorization", "proxy-authorization"):
                remember_auth_header(str(value))
        if self._network is not None:
            proxy = self._network.proxy_for(url)
            kwargs["proxies"] = {"http": proxy, "https": proxy} if proxy else {}
        return super().__call__(  # type: ignore[no-untyped-call]
            url, method=method, body=body, headers=headers, timeout=timeout, **kwargs
        )


def discover(scopes: Sequence[str]) -> Any:
    """Application Default Credentials, or `ConfigurationError` saying how to set them up."""
    credentials, _project = discover_with_project(scopes)
    return credentials


def discover_with_project(scopes: Sequence[str]) -> tuple[Any, str | None]:
    """Application Default Credentials and the project they name (None if none), or
    `ConfigurationError` saying how to set them up."""
    try:
        credentials, project = google.auth.default(scopes=list(scopes))
    except google.auth.exceptions.DefaultCredentialsError as exc:
        error = ConfigurationError(f"{MISSING_ADC_HINT}. google-auth: {describe_error(exc)}")
        error.__cause__ = stand_in(exc)
    else:
        return credentials, (project if isinstance(project, str) and project else None)
    # Raised outside the handler, so google-auth's exception is not its __context__ either.
    raise error


@dataclass(frozen=True)
class Fresh:
    """A token just obtained: the headers to send and when it expires (monotonic clock)."""

    headers: dict[str, str]
    obtained_at: float
    expires_at: float | None

    def __repr__(self) -> str:  # the headers hold the token: never print them
        return f"Fresh(obtained_at={self.obtained_at}, expires_at={self.expires_at})"


def _seconds_left(expiry: datetime.datetime | None) -> float | None:
    if expiry is None:
        return None
    if expiry.tzinfo is None:  # google-auth keeps naive UTC datetimes
        expiry = expiry.replace(tzinfo=datetime.timezone.utc)
    return (expiry - datetime.datetime.now(datetime.timezone.utc)).total_seconds()


def refresh(
    credentials: Any,
    quota_project: str | None,
    timeout: float,
    network: TokenNetwork | None = None,
) -> Fresh:
    """Fetch a new token (blocking); raise `TokenRefreshError` describing any failure.

    `network`: the client's proxy and TLS settings (None: requests' own defaults).
    """
    error: TokenRefreshError | None = None
    try:
        # A session per refresh: one refresh an hour gains nothing from keeping connections,
        # and nothing is left open between refreshes or after the client closes.
        with _session(network) as session:
            credentials.refresh(_TimedRequest(session, timeout, network))
        applied: dict[str, str] = {}
        # apply() writes the Authorization header as this credential type wants it, and
        # x-goog-user-project when the credentials carry a quota project.
        credentials.apply(applied)
    except Exception as exc:
        # google-auth marks a refused grant not retryable; a network failure or timeout
        # (TransportError) it leaves unmarked, but those are the most retryable of all.
        transport = isinstance(exc, google.auth.exceptions.TransportError)
        retryable = True if transport else getattr(exc, "retryable", None)
        error = TokenRefreshError(
            f"could not get a Google access token: {describe_error(exc)}; hint: check that the "
            "token endpoint is reachable and the credentials are still valid "
            "(`gcloud auth application-default login`, or the key file in "
            "GOOGLE_APPLICATION_CREDENTIALS)",
            retryable=bool(retryable) if retryable is not None else True,
        )
        # google-auth's exceptions quote the token endpoint's answer (and requests' hold the
        # request, assertion included): the chain keeps a redacted stand-in.
        error.__cause__ = stand_in(exc)
    if error is not None:
        raise error  # outside the handler: no __context__ pointing at the original
    token = getattr(credentials, "token", None)
    remember_secret(token if isinstance(token, str) else None)
    for name, value in applied.items():
        if name.lower() == "authorization":
            remember_auth_header(value)
    # One spelling per header name (google-auth writes "authorization"), so that the client's
    # and the caller's headers override these instead of being sent next to them.
    headers = {_CANONICAL.get(name.lower(), name.lower()): value for name, value in applied.items()}
    if quota_project:
        headers["x-goog-user-project"] = quota_project
    left = _seconds_left(credentials.expiry)
    now = time.monotonic()
    return Fresh(headers, now, None if left is None else now + left)

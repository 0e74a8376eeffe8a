"""Secrets never leave in text: the one redaction applied wherever text leaves the library.

Text leaves through exception messages and bodies (`APIError` redacts what it is built from),
the chain of causes of an error raised to the caller (`scrub_chain`), records written by
batch and bench, and log lines. All of them go through `redact`, which replaces with
`[redacted]`:

- every *known secret*: the tokens and keys auth sources hand out (current and previous),
  JWT assertions and refresh tokens sent to a token endpoint, passwords in base or proxy URLs;
  they are registered here by whoever holds them (`remember_secret`), at most `MAX_SECRETS`
  of them, most recent kept;
- whatever looks like one: a `Bearer ...` value, a Google access token (`ya29.`), a JWT, the
  value of a token-named field (`access_token=`, `"assertion": ...`), the password of a URL.

Sans-IO and clock-free; safe to call from any thread (google-auth refreshes run on a worker).
"""

from __future__ import annotations

import base64
import contextlib
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "MARKER",
    "MAX_SECRETS",
    "MIN_SECRET_LENGTH",
    "describe_error",
    "redact",
    "redact_json",
    "remember_auth_header",
    "remember_header_secrets",
    "remember_secret",
    "remember_secrets_in_form",
    "remember_url_password",
    "scrub_chain",
    "stand_in",
]

MARKER = "[redacted]"
"""What a secret is replaced with."""
MIN_SECRET_LENGTH = 10
"""Shorter strings are not registered: they cannot be told apart from ordinary words (a
`Bearer x` header value is redacted by its shape whatever its length)."""
MAX_SECRETS = 256
"""Known secrets kept; the oldest is forgotten first (a token refreshed hourly for ten days)."""

# Longest piece of a foreign error message quoted in our messages and logs.
_MAX_DETAIL = 300
# How far `scrub_chain` follows causes and contexts (chains are short; cycles are possible).
_MAX_CHAIN = 16
# Google access tokens (ya29.), JWTs (assertions, ID tokens), bearer header values, the
# values of token-named fields in JSON or form bodies, and the password of a URL.
_SECRET = re.compile(
    r"(?P<plain>ya29\.[\w.-]+|eyJ[\w-]*\.[\w-]*\.[\w-]*)"
    # (8 characters at least, so that prose such as "a bearer token" stays as it is)
    r"|(?P<scheme>\b(?i:bearer)\s+)[\w.~+/=-]{8,}"
    r"|(?P<field>(?i:access_token|assertion|id_token|refresh_token|private_key|client_secret"
    r"|subject_token)['\"]?\s*[:=]\s*['\"]?)[^\s'\",}&]+"
    r"|(?P<userinfo>(?i:[a-z][a-z0-9+.-]*://)[^\s/@:]*:)[^\s/@]+(?=@)"
)
# Form and header fields whose values are secrets (token requests, proxies).
_SECRET_FIELDS = frozenset({
    "assertion", "refresh_token", "client_secret", "subject_token", "actor_token",
    "access_token", "id_token", "password", "code",
})


# Request headers whose values are credentials.
_SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "x-goog-api-key", "api-key", "x-api-key",
    "cookie",
})


def _replace(match: re.Match[str]) -> str:
    kept = match.group("scheme") or match.group("field") or match.group("userinfo") or ""
    return kept + MARKER


class _Registry:
    """Known secrets, most recent last. Adding one is O(1) (it happens per new token, on the
    request path); the longest-first order used to replace them is rebuilt lazily, when text
    is next redacted (on error paths)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, None] = {}
        self._ordered: tuple[str, ...] | None = ()

    def add(self, secret: str) -> None:
        with self._lock:
            known = self._secrets
            if secret in known:
                if next(reversed(known)) != secret:  # most recent last
                    del known[secret]
                    known[secret] = None
                return
            known[secret] = None
            while len(known) > MAX_SECRETS:
                del known[next(iter(known))]
            self._ordered = None

    def sub(self, text: str) -> str:
        ordered = self._ordered
        if ordered is None:
            with self._lock:
                # Longest first: a secret containing another is replaced whole.
                ordered = self._ordered = tuple(sorted(self._secrets, key=len, reverse=True))
        for secret in ordered:
            if secret in text:
                text = text.replace(secret, MARKER)
        return text


_KNOWN = _Registry()


def remember_secret(secret: str | None) -> None:
    """Register a secret (a token, key, assertion, password) so that `redact` cuts it out.

    Strings shorter than `MIN_SECRET_LENGTH` (after stripping) are ignored.
    """
    if not secret:
        return
    secret = secret.strip()
    if len(secret) >= MIN_SECRET_LENGTH:
        _KNOWN.add(secret)


def remember_auth_header(value: str | None) -> None:
    """Register an `Authorization`-style header value: the whole value and its credential."""
    if not value:
        return
    remember_secret(value)
    scheme, _, credential = value.strip().partition(" ")
    remember_secret(credential if credential else scheme)


def remember_header_secrets(headers: Mapping[str, str] | None) -> None:
    """Register the values of credential headers (`Authorization`, API-key headers, ...)."""
    if not headers:
        return
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in _SECRET_HEADERS:
            if lowered.endswith("authorization"):
                remember_auth_header(value)
            else:
                remember_secret(value)


def remember_url_password(url: str | None) -> None:
    """Register the password (and user) of a URL such as `http://user:pw@proxy:3128`."""
    if not url:
        return
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return
    if password:
        remember_secret(password)
        remember_secret(unquote(password))
        # As sent: in a Basic `Authorization` / `Proxy-Authorization` header.
        userinfo = f"{parts.username or ''}:{password}"
        remember_secret(userinfo)
        remember_secret(base64.b64encode(userinfo.encode()).decode("ascii"))


def remember_secrets_in_form(body: str | bytes | None) -> None:
    """Register the secret fields of a form body (a token request's assertion, ...)."""
    if not body:
        return
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    if "=" not in text:
        return
    for name, value in parse_qsl(text, keep_blank_values=False):
        if name.lower() in _SECRET_FIELDS:
            remember_secret(value)


def redact(text: str) -> str:
    """`text` with every known secret and everything shaped like one replaced by `[redacted]`."""
    return _SECRET.sub(_replace, _KNOWN.sub(text))


def _redacted_shallow(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {redact(k) if isinstance(k, str) else k: v for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return list(value)
    return value


def redact_json(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings, numbers) with every string redacted.

    Strings are redacted whole, keys included; other values are returned as they are. Works
    without recursion (a hostile body may be nested thousands deep); a container met twice is
    replaced by the marker (a cycle, in a value built by hand).
    """
    top = _redacted_shallow(value)
    seen = {id(value)}
    stack = [top] if isinstance(top, (dict, list)) else []
    while stack:
        container = stack.pop()
        keys = list(container) if isinstance(container, dict) else range(len(container))
        for key in keys:
            child = container[key]
            if isinstance(child, (Mapping, list, tuple)):
                if id(child) in seen:
                    container[key] = MARKER
                    continue
                seen.add(id(child))
            new = _redacted_shallow(child)
            container[key] = new
            if isinstance(new, (dict, list)):
                stack.append(new)
    return top


def describe_error(exc: BaseException) -> str:
    """`Type: message` on one line, secrets cut out, at most a few hundred characters."""
    type_name = getattr(exc, "type_name", None)  # a RedactedError speaks for its original
    if isinstance(type_name, str):
        name = type_name.rsplit(".", 1)[-1]
        text = getattr(exc, "message", "")
    else:
        name = type(exc).__name__
        text = str(exc)
    text = redact(" ".join(text.split()))
    if len(text) > _MAX_DETAIL:
        text = text[:_MAX_DETAIL] + "…"
    return f"{name}: {text}" if text else name


# -- the chain of causes -------------------------------------------------------------------------
def _ours(exc: BaseException) -> bool:
    return type(exc).__module__.split(".", 1)[0] == "aiovertexchat"


def _message_of(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not hide the original failure
        text = ""
    return redact(text)


def _safe(
    exc: BaseException, memo: dict[int, BaseException], depth: int
) -> BaseException | None:
    """`exc` if it is ours (its own links scrubbed), else a `RedactedError` standing in for it;
    None past `_MAX_CHAIN` links."""
    done = memo.get(id(exc))
    if done is not None:
        return done
    if depth > _MAX_CHAIN:
        return None
    if _ours(exc):
        memo[id(exc)] = exc
        _scrub_links(exc, memo, depth)
        return exc
    from .errors import RedactedError  # errors imports this module: import when first needed

    cls = type(exc)
    replacement = RedactedError(f"{cls.__module__}.{cls.__qualname__}", _message_of(exc))
    replacement.__traceback__ = exc.__traceback__
    memo[id(exc)] = replacement
    cause, context = exc.__cause__, exc.__context__
    replacement.__cause__ = None if cause is None else _safe(cause, memo, depth + 1)
    replacement.__context__ = None if context is None else _safe(context, memo, depth + 1)
    replacement.__suppress_context__ = exc.__suppress_context__
    return replacement


def _scrub_links(exc: BaseException, memo: dict[int, BaseException], depth: int) -> None:
    suppress = exc.__suppress_context__
    cause, context = exc.__cause__, exc.__context__
    exc.__cause__ = None if cause is None else _safe(cause, memo, depth + 1)
    if suppress and cause is not None:
        # `raise ... from cause`: the context is never shown; one stand-in serves both.
        exc.__context__ = exc.__cause__
    else:
        exc.__context__ = None if context is None else _safe(context, memo, depth + 1)
    exc.__suppress_context__ = suppress  # (setting __cause__ sets it to True)
    # `StreamInterruptedError.cause` and the like: another exception callers can reach.
    other = getattr(exc, "cause", None)
    if isinstance(other, BaseException):
        with contextlib.suppress(AttributeError):
            exc.cause = _safe(other, memo, depth + 1)  # type: ignore[attr-defined]


def stand_in(exc: BaseException) -> BaseException:
    """`exc` made safe to chain: a foreign exception becomes a `RedactedError` (class name,
    redacted message, traceback, and its own chain made safe); one of ours is kept, its chain
    scrubbed."""
    safe = _safe(exc, {}, 0)
    assert safe is not None
    return safe


def scrub_chain(error: BaseException) -> BaseException:
    """Make `error`'s `__cause__` / `__context__` chain safe to print, in place; returns it.

    Every foreign exception in the chain (aiohttp's carry the request headers, google-auth's
    the token endpoint's answer) is replaced by a `RedactedError` keeping its class name, its
    redacted message and its traceback. Call it on an error about to reach the caller, and
    raise it from a place where no other exception is being handled (or while handling the
    error itself), so Python does not chain a new context onto it.
    """
    _scrub_links(error, {id(error): error}, 0)
    return error

"""Describing a failure in one short line without leaking anything token-like.

Used for messages and logs about credential failures. Error answers of a token endpoint carry no
tokens; this is insurance against one that echoes its input, or a credentials plug-in that puts
one in an exception.
"""

from __future__ import annotations

import re

__all__ = ["describe_error", "redact"]

# Longest piece of a foreign error message quoted in our messages and logs.
_MAX_DETAIL = 300
# Google access tokens (ya29.), JWTs (assertions, ID tokens), bearer header values, and the
# values of token-named fields in JSON or form bodies.
_SECRET = re.compile(
    r"(?P<plain>ya29\.[\w.-]+|eyJ[\w-]*\.[\w-]*\.[\w-]*)"
    r"|(?P<key>(?i:bearer\s+|(?:access_token|assertion|id_token|refresh_token|private_key)"
    r"['\"]?\s*[:=]\s*['\"]?))[^\s'\",}&]+"
)


def _replace(match: re.Match[str]) -> str:
    return (match.group("key") or "") + "[redacted]"


def redact(text: str) -> str:
    return _SECRET.sub(_replace, text)


def describe_error(exc: BaseException) -> str:
    """`Type: message` on one line, secrets cut out, at most a few hundred characters."""
    text = redact(" ".join(str(exc).split()))
    if len(text) > _MAX_DETAIL:
        text = text[:_MAX_DETAIL] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

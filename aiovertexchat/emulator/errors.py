"""Error answers in the shapes Google's front ends and the proxies before them really send.

Sans-IO: each helper returns an `ErrorReply` (status, headers, body bytes) that the server writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import msgspec

from .dialects import Dialect
from .faults import Fault, format_number

__all__ = [
    "ErrorReply",
    "error_reply",
    "fault_reply",
    "google_error",
    "google_status",
    "stream_error_event",
]

# google.rpc.Code names as Google's HTTP/JSON mapping spells them.
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ABORTED",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_DEFAULT_MESSAGE = {
    400: "Request contains an invalid argument.",
    401: (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project."
    ),
    403: "Permission denied on resource project (or it may not exist).",
    404: "Requested entity was not found.",
    429: (
        "Resource exhausted. Please try again later. Please refer to "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
    ),
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "The request timed out. Please try again.",
}

# Reasons that client code keys on; others carry no ErrorInfo unless a fault asks for one.
_DEFAULT_REASON = {
    401: "ACCESS_TOKEN_TYPE_UNSUPPORTED",
    429: "RATE_LIMIT_EXCEEDED",
}

_JSON = "application/json; charset=UTF-8"


def google_status(code: int) -> str:
    """The google.rpc status name Google sends with an HTTP status."""
    return _GOOGLE_STATUS.get(code, "UNKNOWN")


def google_error(
    code: int, status: str | None = None, message: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """The `{"error": {...}}` object; `details` holds a google.rpc.ErrorInfo when given a reason."""
    error: dict[str, Any] = {
        "code": code,
        "message": message if message is not None else _default_message(code),
        "status": status if status is not None else google_status(code),
    }
    if reason is not None:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
            }
        ]
    return {"error": error}


def _default_message(code: int) -> str:
    text = _DEFAULT_MESSAGE.get(code)
    if text is not None:
        return text
    try:
        return HTTPStatus(code).phrase + "."
    except ValueError:
        return "Error."


@dataclass(frozen=True)
class ErrorReply:
    """A complete error answer, ready to write."""

    status: int
    body: bytes
    content_type: str = _JSON
    headers: dict[str, str] = field(default_factory=dict)


def error_reply(
    code: int,
    message: str | None = None,
    *,
    reason: str | None = None,
    headers: dict[str, str] | None = None,
    dialect: Dialect | None = None,
) -> ErrorReply:
    """The usual Google JSON error; 401 and 429 get the reason that Vertex sends with them.
    With a dialect, the error body that server sends instead."""
    if reason is None:
        reason = _DEFAULT_REASON.get(code)
    if dialect is not None:
        text = message if message is not None else _default_message(code)
        return ErrorReply(code, dialect.error_body(code, text, reason), headers=dict(headers or {}))
    body = msgspec.json.encode(google_error(code, None, message, reason))
    return ErrorReply(code, body, headers=dict(headers or {}))


def fault_reply(fault: Fault, dialect: Dialect | None = None) -> ErrorReply:
    """The answer of an error-kind fault, in the body shape its kind names (`error`: the
    dialect's own shape)."""
    code = fault.code if fault.code is not None else 500
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = format_number(fault.retry_after)
    if fault.retry_after_ms is not None:
        headers["retry-after-ms"] = str(fault.retry_after_ms)
    if fault.kind == "error":
        return error_reply(code, reason=fault.reason, headers=headers, dialect=dialect)
    if fault.kind == "list-error":
        reason = fault.reason if fault.reason is not None else _DEFAULT_REASON.get(code)
        body = msgspec.json.encode([google_error(code, None, None, reason)])
        return ErrorReply(code, body, headers=headers)
    if fault.kind == "html-error":
        return ErrorReply(code, _html_page(code), "text/html; charset=UTF-8", headers)
    if fault.kind == "text-error":
        return ErrorReply(code, _proxy_text(code), "text/plain", headers)
    if fault.kind == "empty-error":
        # JSON content type with no body: the case that breaks naive `resp.json()` callers.
        return ErrorReply(code, b"", _JSON, headers)
    raise ValueError(f"fault {fault.kind!r} is not an error answer")


def stream_error_event(fault: Fault, dialect: Dialect | None = None) -> bytes:
    """The `data: {"error": ...}` event a stream may carry after it has started."""
    code = fault.code if fault.code is not None else 503
    if dialect is not None:
        return dialect.stream_error(code, _default_message(code), fault.reason)
    payload = msgspec.json.encode(google_error(code, None, None, fault.reason))
    return b"data: " + payload + b"\n\n"


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


def _html_page(code: int) -> bytes:
    # Shaped like the page Google's front end serves when the backend is unreachable.
    kind = "Client Error" if code < 500 else "Server Error"
    return (
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n"
        f"  <title>Error {code} ({kind})!!1</title>\n"
        f"  <p><b>{code}.</b> <ins>That\u2019s an error.</ins>\n"
        "  <p>The server encountered a temporary error and could not complete your request."
        "<p>Please try again in 30 seconds.  <ins>That\u2019s all we know.</ins>\n"
    ).encode()


def _proxy_text(code: int) -> bytes:
    # Envoy-style text, as service meshes and load balancers in front of endpoints send it.
    if code == 503:
        return b"upstream connect error or disconnect/reset before headers. reset reason: overflow"
    return f"{code} {_phrase(code)}".encode()

"""Reading error bodies of any shape, and the most specific `APIStatusError` for a status.

Sans-IO. Servers send errors as a JSON object (`{"error": {...}}`, Google's and OpenAI's forms),
a one-element list of those (Vertex), a bare `{"detail": ...}` (FastAPI servers), HTML from a proxy,
plain text or nothing; `parse_error_body` reads each into one `ParsedErrorBody`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

import msgspec

from .._redact import redact
from ..errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
)

__all__ = ["ParsedErrorBody", "make_status_error", "parse_error_body", "request_id_from_headers"]

# Longest piece of a non-JSON error body quoted in a message: enough to recognise a proxy page.
_MAX_QUOTED_BODY = 300

_CLASS_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

_HINT_BY_STATUS: dict[int, str] = {
    400: "check the request parameters and the model's capabilities",
    401: (
        "the access token was rejected: refresh it (`gcloud auth application-default login` "
        "or GOOGLE_APPLICATION_CREDENTIALS) and check it has the cloud-platform scope"
    ),
    403: "the credentials lack permission (role `aiplatform.user`?) on this project or model",
    404: "check the project, location, endpoint id and model name",
    429: "capacity or quota exhausted: retry with backoff and smooth the request rate",
}


class ParsedErrorBody(msgspec.Struct, frozen=True):
    """What could be read out of an error body, whatever its shape."""

    message: str
    google_status: str | None = None
    reason: str | None = None
    code: int | None = None
    body: Any = None


_TAG = re.compile(rb"<[^>]*>")
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_SPACES = re.compile(r"\s+")


def _text_excerpt(raw: bytes) -> str:
    """A short, single-line, human-readable excerpt of an HTML or text body."""
    title = _TITLE.search(raw)
    if title is not None:
        source = title.group(1)
    elif raw.lstrip()[:1] == b"<":
        source = _TAG.sub(b" ", raw)
    else:
        source = raw
    text = html.unescape(source.decode("utf-8", errors="replace"))
    # Redacted before it is cut: a secret cut in half would no longer be recognised.
    text = redact(_SPACES.sub(" ", text).strip())
    if len(text) > _MAX_QUOTED_BODY:
        text = text[:_MAX_QUOTED_BODY] + "…"
    return text


def _from_error_object(error: Mapping[str, Any], body: Any) -> ParsedErrorBody:
    reason = None
    for detail in error.get("details") or ():
        if isinstance(detail, Mapping) and isinstance(detail.get("reason"), str):
            reason = detail["reason"]
            break
    code = error.get("code")
    status = error.get("status")
    if not isinstance(status, str):
        # OpenAI-style bodies carry `type`; vLLM and TGI use `type` too.
        status = error.get("type") if isinstance(error.get("type"), str) else None
    message = error.get("message")
    return ParsedErrorBody(
        message=str(message) if message else "",
        google_status=status,
        reason=reason,
        code=code if isinstance(code, int) else None,
        body=body,
    )


def parse_error_body(raw: bytes) -> ParsedErrorBody:
    """Read an error body in any shape: object, list-of-objects, HTML, plain text or empty."""
    stripped = raw.strip()
    if not stripped:
        return ParsedErrorBody(message="")
    if stripped[:1] in (b"{", b"["):
        try:
            decoded = msgspec.json.decode(stripped)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
            # (too deeply nested, or invalid UTF-8 in a string: read as text below)
            decoded = None
        # Vertex sometimes wraps the error object in a one-element list.
        first = decoded[0] if isinstance(decoded, list) and decoded else decoded
        if isinstance(first, Mapping):
            error = first.get("error", first)
            if isinstance(error, Mapping):
                return _from_error_object(error, decoded)
            if isinstance(error, str):  # e.g. {"error": "model not found"} from some servers
                return ParsedErrorBody(message=error, body=decoded)
    return ParsedErrorBody(message=_text_excerpt(stripped), body=_text_excerpt(stripped))


def request_id_from_headers(headers: Mapping[str, str]) -> str | None:
    for name in ("x-request-id", "x-goog-request-id", "request-id", "x-cloud-trace-context"):
        value = headers.get(name)
        if value:
            return value
    return None


def make_status_error(
    status_code: int,
    raw_body: bytes,
    *,
    headers: Mapping[str, str] | None = None,
    what: str = "request",
) -> APIStatusError:
    """The most specific `APIStatusError` for a status and body, with a message that helps."""
    parsed = parse_error_body(raw_body)
    headers = headers or {}
    request_id = request_id_from_headers(headers)
    cls = _CLASS_BY_STATUS.get(status_code)
    if cls is None:
        cls = InternalServerError if status_code >= 500 else APIStatusError
    parts = [f"{what} failed with HTTP {status_code}"]
    if parsed.google_status:
        parts[0] += f" {parsed.google_status}"
    if parsed.reason:
        parts[0] += f" ({parsed.reason})"
    parts.append(parsed.message or "the server sent no error message")
    hint = _HINT_BY_STATUS.get(status_code)
    if status_code >= 500:
        hint = "the server or a proxy failed; retrying later usually helps"
    if hint:
        parts.append(f"hint: {hint}")
    if request_id:
        parts.append(f"request id {request_id}")
    return cls(
        ": ".join(parts[:2]) + "".join(f"; {p}" for p in parts[2:]),
        status_code=status_code,
        body=parsed.body,
        request_id=request_id,
        google_status=parsed.google_status,
        reason=parsed.reason,
        headers=headers,
    )

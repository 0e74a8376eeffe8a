"""Reading error bodies of any shape, and the most specific `APIStatusError` for a status.

Sans-IO. Servers send errors as a JSON object (`{"error": {...}}`, Google's and OpenAI's forms),
a one-element list of those (Vertex), a bare `{"detail": ...}` (FastAPI servers), HTML from a proxy,
plain text or nothing; `parse_error_body` reads each into one `ParsedErrorBody`.

The text is looked for under the names servers really use (`_TEXT_KEYS`), in their string and
structured forms, at the top level or nested under `error`: `message` (Google, OpenAI, vLLM,
llama.cpp, Ollama), `detail` (FastAPI: a string, or a list of `{"loc", "msg"}` items), `details`
(an orchestrator's `{"code", "details"}`), `msg`, `error_message`, `error` as a string (TGI,
Ollama). A JSON body with none of them is quoted as a short compact excerpt, so a message never
says "no error message" when the body was not empty. The status a body names is read from
`code` (a number or a numeric string, as LiteLLM sends it), else from a status or type name
(`_STATUS_BY_NAME`), for errors that arrive inside an HTTP 200 answer.
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

# Longest piece of an error body quoted in a message: enough to recognise a proxy page.
_MAX_QUOTED_BODY = 300

# Where servers put the error text, in order of preference.
_TEXT_KEYS = ("message", "detail", "details", "msg", "error_message", "error_description")
# Values some servers put in `type` / `status` that mean "none" (LiteLLM sends "None").
_NO_NAME = frozenset({"", "None", "none", "null"})

# Status (or type) names servers send instead of a numeric code, for errors inside a 200 answer.
_STATUS_BY_NAME: dict[str, int] = {
    # google.rpc codes
    "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ABORTED": 409,
    "ALREADY_EXISTS": 409, "RESOURCE_EXHAUSTED": 429, "CANCELLED": 499, "UNKNOWN": 500,
    "INTERNAL": 500, "DATA_LOSS": 500, "UNIMPLEMENTED": 501, "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
    # OpenAI-style `type` / `code` names (OpenAI, vLLM, llama.cpp, LiteLLM)
    "invalid_request_error": 400, "BadRequestError": 400, "authentication_error": 401,
    "invalid_api_key": 401, "permission_error": 403, "not_found_error": 404,
    "NotFoundError": 404, "rate_limit_error": 429, "rate_limit_exceeded": 429,
    "insufficient_quota": 429, "server_error": 500, "api_error": 500,
    "InternalServerError": 500, "unavailable_error": 503, "overloaded_error": 503,
    # TGI's `error_type`
    "validation": 422, "overloaded": 429, "generation": 500, "incomplete_generation": 500,
}

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
    status: int | None = None
    """The HTTP status the body itself names (`code`, or a status/type name), if any."""


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


def _text_of(value: Any, depth: int = 0) -> str:
    """Error text from one value: a string, an object holding one, or a list of those (FastAPI's
    validation items `{"loc": [...], "msg": ...}` become `body.messages: Field required`)."""
    if isinstance(value, str):
        return value.strip()
    if depth > 3:
        return ""
    if isinstance(value, Mapping):
        text = _message_of(value, depth + 1)
        loc = value.get("loc")
        if text and isinstance(loc, list) and loc:
            return ".".join(str(part) for part in loc) + ": " + text
        return text
    if isinstance(value, list):
        texts = [text for text in (_text_of(item, depth + 1) for item in value[:5]) if text]
        return "; ".join(texts)
    return ""


def _message_of(obj: Mapping[str, Any], depth: int = 0) -> str:
    for key in _TEXT_KEYS:
        text = _text_of(obj.get(key), depth)
        if text:
            return text
    error = obj.get("error")
    if error is not None and error is not obj:
        return _text_of(error, depth)
    return ""


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and value not in _NO_NAME else None


def _status_of(*values: Any) -> int | None:
    """The first HTTP status named by a code (number or digits) or a known status/type name."""
    for value in values:
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and 100 <= value <= 599:
            return value
        if isinstance(value, str):
            if value.isdigit() and 100 <= int(value) <= 599:
                return int(value)
            if value in _STATUS_BY_NAME:
                return _STATUS_BY_NAME[value]
    return None


def _compact(decoded: Any) -> str:
    text = msgspec.json.encode(decoded).decode()
    return text[:_MAX_QUOTED_BODY] + "…" if len(text) > _MAX_QUOTED_BODY else text


def _from_error_object(
    error: Mapping[str, Any], outer: Mapping[str, Any], body: Any
) -> ParsedErrorBody:
    reason = None
    details = error.get("details")
    if isinstance(details, list):
        for detail in details:
            if isinstance(detail, Mapping) and isinstance(detail.get("reason"), str):
                reason = detail["reason"]
                break
    code = error.get("code")
    # OpenAI-style bodies carry `type`; vLLM and TGI use `type` too.
    status = _name(error.get("status")) or _name(error.get("type"))
    message = _message_of(error) or _message_of(outer) or _compact(body)
    return ParsedErrorBody(
        message=message,
        google_status=status,
        reason=reason,
        code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        body=body,
        status=_status_of(
            code, outer.get("code"), error.get("status"), error.get("type"),
            outer.get("error_type"), error.get("error_type"),
        ),
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
                return _from_error_object(error, first, decoded)
            # e.g. {"error": "model not found"} (Ollama), {"error": "...", "error_type": ...} (TGI)
            return ParsedErrorBody(
                message=_message_of(first) or _compact(decoded),
                google_status=_name(first.get("error_type")),
                body=decoded,
                status=_status_of(first.get("code"), first.get("error_type")),
            )
        if decoded is not None:
            return ParsedErrorBody(message=_compact(decoded), body=decoded)
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
    arrived: str | None = None,
) -> APIStatusError:
    """The most specific `APIStatusError` for a status and body, with a message that helps.

    `arrived` says where an error that did not come as an HTTP error status was found (e.g.
    "inside its HTTP 200 stream"); `status_code` is then the status the error itself names.
    """
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
    if arrived:
        parts.append(f"the error arrived {arrived}")
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

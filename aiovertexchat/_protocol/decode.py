"""Bytes become typed objects here, and only here: completion bodies and stream chunks.

Strict first: msgspec decodes straight from bytes into the Structs of `types.py`, which is the
fast path every well-formed answer takes. When it fails, the failure is described once, for
both bodies and chunks: not JSON at all, or valid JSON of an unexpected shape at a `$.path`.
The result is an `APIResponseValidationError` that keeps the real 2xx status and a bounded
excerpt of the body; it is never retried, because the server already did (and billed) the work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from .._redact import redact
from ..errors import APIResponseValidationError
from ..types import ChatCompletion, ChatCompletionChunk

__all__ = [
    "CHUNK_DECODER",
    "DECODE_FAILURES",
    "MAX_BODY_EXCERPT",
    "as_decode_error",
    "decode_completion",
    "describe_decode_failure",
    "unreadable_response",
]

CHUNK_DECODER = msgspec.json.Decoder(ChatCompletionChunk)
"""Strict decoder of one `chat.completion.chunk` event (the stream's hot path binds `.decode`)."""
_COMPLETION_DECODER = msgspec.json.Decoder(ChatCompletion)

MAX_BODY_EXCERPT = 500
"""Characters of an unreadable body kept on the error: enough to see its shape, bounded."""

# msgspec names the place of a validation failure as "... - at `$.choices[0].message`".
_PATH = re.compile(r" - at `(\$[^`]*)`$")

DECODE_FAILURES = (msgspec.DecodeError, RecursionError, UnicodeDecodeError)
"""What decoding bytes a server sent can raise: besides msgspec's own errors, JSON nested past
msgspec's depth limit raises RecursionError, and invalid UTF-8 inside a JSON string raises
UnicodeDecodeError. Catch all three wherever a server's bytes are decoded."""


def as_decode_error(exc: BaseException) -> msgspec.DecodeError:
    """Any of `DECODE_FAILURES` as a `msgspec.DecodeError` saying what was wrong."""
    if isinstance(exc, msgspec.DecodeError):
        return exc
    if isinstance(exc, RecursionError):
        return msgspec.DecodeError("JSON is nested too deeply to be read")
    if isinstance(exc, UnicodeDecodeError):
        return msgspec.DecodeError(
            f"JSON is malformed: invalid UTF-8 at byte {exc.start} ({exc.reason})"
        )
    return msgspec.DecodeError(str(exc))


def decode_completion(
    raw: bytes, *, status: int, headers: Mapping[str, str], request_id: str | None
) -> ChatCompletion:
    """A non-streamed 2xx body as a `ChatCompletion`.

    Raises `APIResponseValidationError` when the body cannot be read as one.
    """
    try:
        return _COMPLETION_DECODER.decode(raw)
    except DECODE_FAILURES as exc:
        raise unreadable_response(
            raw, as_decode_error(exc), what="a chat.completion", status=status, headers=headers,
            request_id=request_id,
        ) from exc


def describe_decode_failure(exc: msgspec.DecodeError) -> tuple[str, str | None]:
    """Why strict decoding failed, in words, and the `$.path` where the shape was unexpected
    (None when the text is not JSON at all)."""
    if isinstance(exc, msgspec.ValidationError):
        match = _PATH.search(str(exc))
        path = match.group(1) if match else "$"
        return f"valid JSON, unexpected shape at {path}: {_PATH.sub('', str(exc))}", path
    return f"not valid JSON ({exc})", None


def unreadable_response(
    raw: bytes | str,
    exc: msgspec.DecodeError,
    *,
    what: str,
    status: int,
    headers: Mapping[str, str],
    request_id: str | None,
) -> APIResponseValidationError:
    """The error for a 2xx body or event that strict decoding refused, saying why."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    # Redacted before it is cut: a secret cut in half would no longer be recognised. (Only the
    # first 64 KiB are read for it: a huge body is not scanned whole for a 500-character quote.)
    text = redact(text[:65536])
    excerpt = text[:MAX_BODY_EXCERPT] + ("…" if len(text) > MAX_BODY_EXCERPT else "")
    why, path = describe_decode_failure(exc)
    message = (
        f"the server answered HTTP {status} with a body that is not {what}: {why}; "
        "it was not retried, since the server already did the work (the body is in .body)"
    )
    if request_id:
        message += f"; request id {request_id}"
    return APIResponseValidationError(
        message, status_code=status, body=excerpt, path=path, request_id=request_id,
        headers=headers,
    )

"""Batch input: turning one JSONL line (or one Python object) into a checked `BatchRequest`.

Sans-IO: bytes or objects in, a request or an `InputProblem` out. The rules are the ones a line
must pass before anything is sent:

- the line is a JSON object (blank lines are skipped, not reported; a UTF-8 byte-order mark
  on line 1 is ignored);
- `custom_id` is a non-empty string (uniqueness is checked across lines by the caller, which
  owns the id index);
- `method` is `POST` and `url` is `/v1/chat/completions` (the OpenAI Batch API spelling);
- `body` is an object with a non-empty `messages` list of `{"role": ...}` objects, without
  `stream: true` (a batch stores whole answers), and only parameter names that the client
  knows: Vertex ignores unknown names silently, so a typo would cost money and change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from .._protocol.params import BODY_PARAMS, find_unknown
from ..errors import InvalidBatchItemError

# The name this error had before it joined errors.py.
InvalidRequestError = InvalidBatchItemError

__all__ = [
    "SUPPORTED_METHOD",
    "SUPPORTED_URL",
    "BatchRequest",
    "InputProblem",
    "InvalidRequestError",
    "coerce_request",
    "parse_line",
]

SUPPORTED_METHOD = "POST"
SUPPORTED_URL = "/v1/chat/completions"

# Body keys sent as-is. `extra_body` is Vertex's literal top-level key for Gemini extras.
_BODY_KEYS = BODY_PARAMS | {
    "model",
    "messages",
    "stream",
    "extra_body",
}
_BOM = b"\xef\xbb\xbf"
# Longest custom_id quoted in a message; ids are usually short, a pasted prompt is not.
_MAX_QUOTED_ID = 80


class BatchRequest(msgspec.Struct, frozen=True):
    """One item of a batch: its caller-chosen id and the chat-completions body to send."""

    custom_id: str
    body: dict[str, Any]
    line: int | None = None
    """1-based line of the input file it came from, when it came from one."""


class InputProblem(msgspec.Struct, frozen=True):
    """Why one input line (or object) cannot be sent."""

    line: int | None
    message: str
    custom_id: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "request"
        return f"{where}: {self.message}"


class _Line(msgspec.Struct):
    # `Any` so that a wrong type is reported by our own message, not msgspec's.
    custom_id: Any = msgspec.UNSET
    method: Any = msgspec.UNSET
    url: Any = msgspec.UNSET
    body: Any = msgspec.UNSET


_line_decoder = msgspec.json.Decoder(_Line)


def quote_id(custom_id: str) -> str:
    if len(custom_id) > _MAX_QUOTED_ID:
        return repr(custom_id[:_MAX_QUOTED_ID] + "…")
    return repr(custom_id)


def _check_custom_id(value: Any) -> str:
    if value is msgspec.UNSET or value is None:
        raise ValueError("missing custom_id: every line needs a unique string custom_id")
    if not isinstance(value, str):
        raise ValueError(f"custom_id must be a string, not {type(value).__name__}")
    if not value:
        raise ValueError("custom_id is empty: every line needs a unique non-empty custom_id")
    return value


def _check_route(method: Any, url: Any) -> None:
    if method != SUPPORTED_METHOD:
        shown = "missing" if method is msgspec.UNSET else repr(method)
        raise ValueError(f"method is {shown}; only {SUPPORTED_METHOD!r} is supported")
    if url != SUPPORTED_URL:
        shown = "missing" if url is msgspec.UNSET else repr(url)
        raise ValueError(f"url is {shown}; only {SUPPORTED_URL!r} is supported")


def _check_body(body: Any) -> dict[str, Any]:
    if body is msgspec.UNSET or body is None:
        raise ValueError("missing body: the chat-completions request to send")
    if not isinstance(body, dict):
        raise ValueError(f"body must be a JSON object, not {type(body).__name__}")
    unknown = find_unknown(body, _BODY_KEYS)
    if unknown is not None:
        key, close = unknown
        hint = f" (did you mean {close!r}?)" if close else ""
        raise ValueError(f"unknown body parameter {key!r}{hint}; Vertex would silently ignore it")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("body.messages must be a non-empty list of messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ValueError(f"body.messages[{i}] must be an object with a string 'role'")
    if body.get("stream"):
        raise ValueError("body.stream is true; a batch stores whole answers, remove it")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise ValueError(f"body.model must be a string, not {type(model).__name__}")
    return body


def parse_line(raw: bytes, line: int) -> BatchRequest | InputProblem | None:
    """Check one input line; None for a blank line."""
    if line == 1:
        raw = raw.removeprefix(_BOM)  # files saved by some Windows editors start with one
    if not raw.strip():
        return None
    try:
        decoded = _line_decoder.decode(raw)
    except msgspec.ValidationError:
        return InputProblem(line, "not a JSON object (each line must be one {...} request)")
    except msgspec.DecodeError as exc:
        return InputProblem(line, f"malformed JSON: {exc}")
    custom_id: str | None = None
    try:
        custom_id = _check_custom_id(decoded.custom_id)
        _check_route(decoded.method, decoded.url)
        body = _check_body(decoded.body)
    except ValueError as exc:
        return InputProblem(line, str(exc), custom_id)
    return BatchRequest(custom_id, body, line)


def coerce_request(item: Any, line: int | None = None) -> BatchRequest:
    """A `BatchRequest` from what the Python API accepts; raise `InvalidRequestError`.

    Accepted: a `BatchRequest`; an OpenAI batch line as a dict (`custom_id`, `body`, and
    optionally `method`/`url`, checked when present); or a plain body with its id in
    `custom_id` (or `id`) next to `messages`.
    """
    if isinstance(item, BatchRequest):
        return item
    custom_id: str | None = None
    try:
        if not isinstance(item, Mapping):
            raise ValueError(
                f"a batch item must be a dict or BatchRequest, not {type(item).__name__}"
            )
        if "body" in item:
            custom_id = _check_custom_id(item.get("custom_id", msgspec.UNSET))
            _check_route(item.get("method", SUPPORTED_METHOD), item.get("url", SUPPORTED_URL))
            body = _check_body(item["body"])
        else:
            key = "custom_id" if "custom_id" in item else "id"
            custom_id = _check_custom_id(item.get(key, msgspec.UNSET))
            body = _check_body({k: v for k, v in item.items() if k != key})
    except ValueError as exc:
        raise InvalidRequestError(InputProblem(line, str(exc), custom_id)) from None
    return BatchRequest(custom_id, dict(body), line)

"""What one batch item came to, and its line in the OpenAI batch output format. Sans-IO.

Output line (success, in OUTPUT)::

    {"id": "batch_req_…", "custom_id": "…",
     "response": {"status_code": 200, "request_id": "…", "body": {chat.completion}},
     "error": null}

Failure (in ERRORS), same shape: `error` is always set to `{"code", "message"}`; `response` holds
the HTTP status, request id and error body when the server answered, and is null when no answer
arrived (connection reset, timeout) or the item was refused before sending.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import msgspec

from .._redact import redact, redact_json
from ..errors import APIStatusError, classify_failure
from ..types import ChatCompletion, Usage

__all__ = ["BatchResult", "completion_body", "new_record_id"]

_encoder = msgspec.json.Encoder()


def new_record_id() -> str:
    """The `id` of an output line, as OpenAI spells them."""
    return "batch_req_" + secrets.token_hex(12)


def completion_body(completion: ChatCompletion) -> dict[str, Any]:
    """The completion as a JSON object with the fields OpenAI readers require.

    Our structs leave default values out when encoded (`omit_defaults`); an OpenAI SDK reading
    the output file needs `object`, `created`, `model`, each choice's `index`, `finish_reason`
    and `message`, and each message's `role`, so those are put back.
    """
    body = completion.to_dict()
    body.setdefault("id", "")
    body.setdefault("object", "chat.completion")
    body.setdefault("created", 0)
    body.setdefault("model", "")
    choices = body.setdefault("choices", [])
    for choice in choices:
        choice.setdefault("index", 0)
        choice.setdefault("finish_reason", None)
        message = choice.setdefault("message", {})
        message.setdefault("role", "assistant")
        message.setdefault("content", None)
    return body


def _error_code(error: BaseException) -> str:
    return classify_failure(error).code


@dataclass(frozen=True)
class BatchResult:
    """The outcome of one item: a completion, or the error that ended it."""

    custom_id: str | None
    completion: ChatCompletion | None = None
    error: Exception | None = None
    latency: float = 0.0
    """Seconds from the first attempt to the answer (retries included)."""
    model: str | None = None
    """The model asked for (the body's, else the batch default), for pricing."""
    line: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.completion is not None

    @property
    def usage(self) -> Usage | None:
        return self.completion.usage if self.completion is not None else None

    @property
    def status_code(self) -> int | None:
        if self.ok:
            return 200
        if isinstance(self.error, APIStatusError):
            return self.error.status_code
        return None

    @property
    def request_id(self) -> str | None:
        if self.completion is not None:
            return self.completion.request_id
        if isinstance(self.error, APIStatusError):
            return self.error.request_id
        return None

    @property
    def error_code(self) -> str | None:
        return None if self.error is None else _error_code(self.error)

    def to_record(self, record_id: str | None = None) -> dict[str, Any]:
        """The output-format object for this result."""
        record_id = record_id or new_record_id()
        if self.error is None and self.completion is not None:
            response: dict[str, Any] | None = {
                "status_code": 200,
                "request_id": self.completion.request_id,
                "body": completion_body(self.completion),
            }
            return {"id": record_id, "custom_id": self.custom_id, "response": response,
                    "error": None}
        error = self.error or RuntimeError("no completion and no error")
        response = None
        # Text written to a file leaves the library: redacted here too, whatever raised it.
        if isinstance(error, APIStatusError):
            response = {
                "status_code": error.status_code,
                "request_id": error.request_id,
                "body": redact_json(error.body),
            }
        message = redact(str(error)) or type(error).__name__
        return {
            "id": record_id,
            "custom_id": self.custom_id,
            "response": response,
            "error": {"code": _error_code(error), "message": message},
        }

    def to_line(self, record_id: str | None = None) -> bytes:
        """One JSONL line, newline included."""
        return _encoder.encode(self.to_record(record_id)) + b"\n"

"""Every public exception of aiovertexchat, grouped by family, and one classification of failures.

Families:
- Refused before sending (`InvalidRequestError`, a `ValueError`): the caller asked for something
  that cannot be sent; nothing went over the network. Subclasses that replaced a `TypeError`
  are `TypeError`s too, so existing `except TypeError` keeps working.
- `ConfigurationError` (a `ValueError`): the client was set up wrongly; the message names the fix.
- `APIError`: anything that went wrong talking to the API.
  - `APIStatusError`: the server answered with an error status (or an error inside a stream).
  - `APIConnectionError`: no usable answer arrived (DNS, refused, reset, TLS); `APITimeoutError`.
  - `APIResponseValidationError`: a 2xx answer we could not read (kept, never retried).
  - `ResponseTooLargeError`: an answer grew past a size limit.
  - `StreamInterruptedError`: a stream ended or failed before it finished; `.partial` holds
    what had arrived.
  - `StructuredOutputError`: the answer arrived but could not become `parsed`.
  - `TokenRefreshError`: no access token could be obtained from Google (refresh failed).
- Batch jobs and bench runs: errors about their files and settings.

`classify_failure(error)` gives the one `Failure` classification that retry counters, batch error
codes, bench error classes and timeout kinds all read.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._redact import redact, redact_json

if TYPE_CHECKING:
    from .batch.parse import InputProblem
    from .types import ChatCompletion

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadInputError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "ConflictingParametersError",
    "ContentFilterFinishReasonError",
    "Failure",
    "FailureKind",
    "InternalServerError",
    "InvalidBatchItemError",
    "InvalidJSONError",
    "InvalidRequestError",
    "JobConfigError",
    "JobStoppedError",
    "JournalCorruptError",
    "JournalLockedError",
    "LengthFinishReasonError",
    "MediaError",
    "MediaTooLargeError",
    "NotFoundError",
    "PermissionDeniedError",
    "PlotUnavailableError",
    "RateLimitError",
    "RedactedError",
    "ResponseTooLargeError",
    "SSEBufferOverflowError",
    "StreamInterruptedError",
    "StreamTimeoutError",
    "StructuredOutputError",
    "TimeoutKind",
    "TokenRefreshError",
    "UnknownMediaTypeError",
    "UnknownModelPriceError",
    "UnknownParameterError",
    "UnprocessableEntityError",
    "UnsupportedSchemaError",
    "classify_failure",
]

TimeoutKind = Literal["connect", "first_byte", "idle", "total"]
"""Which limit of `Timeouts` fired (see `Timeouts` for what each bounds)."""


# -- refused before sending ---------------------------------------------------------------------
class InvalidRequestError(ValueError):
    """The request cannot be sent as given; nothing was sent, and the message says what to fix."""


class UnknownParameterError(InvalidRequestError, TypeError):
    """A parameter the API does not have, or one given in a form it cannot take (a `TypeError`)."""


class ConflictingParametersError(InvalidRequestError):
    """Two parameters of one request contradict each other."""


class UnsupportedSchemaError(InvalidRequestError):
    """A schema (or Python type) cannot be expressed in a form Vertex accepts."""


class MediaError(InvalidRequestError):
    """A media file cannot become a content part; the message says why and what to do."""


class MediaTooLargeError(MediaError):
    """The file is above the inline size limit (`.size`, `.limit` in bytes)."""

    def __init__(self, message: str, *, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


class UnknownMediaTypeError(MediaError):
    """The MIME type could not be told from the bytes or the name; pass `mime_type=`."""


class InvalidBatchItemError(InvalidRequestError):
    """A batch item cannot be sent as given; `.problem` says where (line) and why."""

    def __init__(self, problem: InputProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem


# -- configuration ------------------------------------------------------------------------------
class ConfigurationError(ValueError):
    """The client was configured in a way that cannot work; the message says what to set."""

    def __init__(self, message: str) -> None:
        # Messages quote settings, such as a URL that may carry a password.
        super().__init__(redact(message))


# -- talking to the API -------------------------------------------------------------------------
def _error_object(body: Any) -> Mapping[str, Any] | None:
    """The error object inside a body of any shape (`{"error": {...}}`, a list of those, or the
    object itself), as the OpenAI SDK reads `code`, `type` and `param` from it."""
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, Mapping):
        return None
    inner = body.get("error")
    return inner if isinstance(inner, Mapping) else body


def _error_text(body: Any, name: str) -> str | None:
    error = _error_object(body)
    value = None if error is None else error.get(name)
    return None if value is None else str(value)


class APIError(Exception):
    """Base class of every error raised while talking to the API.

    As in the OpenAI SDK: `.message`, `.body` (the decoded error body, None without one), and
    `.code`, `.type`, `.param` read from the body's error object (None when it has none; a
    Google error has `code` and `status`, so `.type` is None there and `.google_status` of an
    `APIStatusError` holds the status).
    """

    body: Any = None

    def __init__(self, message: str) -> None:
        # Messages quote servers and other libraries: known secrets are cut out here, once.
        message = redact(message)
        super().__init__(message)
        self.message = message
        # Filled in by the attempt loop: one line per failed attempt, oldest first.
        self.attempts: list[str] = []
        # For failures after a stream began: everything received before it failed.
        self.partial: ChatCompletion | None = None

    @property
    def code(self) -> str | None:
        """The error object's `code`, as a string ("429", "invalid_api_key", ...), or None."""
        return self.__dict__.get("_code") or _error_text(self.body, "code")

    @code.setter
    def code(self, value: str | None) -> None:
        self.__dict__["_code"] = value

    @property
    def type(self) -> str | None:
        """The error object's `type` ("invalid_request_error", ...), or None."""
        return self.__dict__.get("_type") or _error_text(self.body, "type")

    @type.setter
    def type(self, value: str | None) -> None:
        self.__dict__["_type"] = value

    @property
    def param(self) -> str | None:
        """The error object's `param` (the request parameter at fault), or None."""
        return self.__dict__.get("_param") or _error_text(self.body, "param")

    @param.setter
    def param(self, value: str | None) -> None:
        self.__dict__["_param"] = value

    def __str__(self) -> str:
        if len(self.attempts) <= 1:
            return self.message
        history = "; ".join(f"#{i} {why}" for i, why in enumerate(self.attempts, 1))
        return f"{self.message} (after {len(self.attempts)} attempts: {history})"


class APIStatusError(APIError):
    """The server answered with an error status (`.status_code`, `.google_status`, `.reason`)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        request_id: str | None = None,
        google_status: str | None = None,
        reason: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = redact_json(body)
        self.request_id = request_id
        self.google_status = google_status
        self.reason = reason
        self.headers: Mapping[str, str] = headers or {}

    @property
    def response(self) -> ErrorResponse:
        """The HTTP answer, shaped like the OpenAI SDK's `error.response`: `.status_code`,
        `.headers`, `.json()` (the decoded body), `.text`."""
        return ErrorResponse(self.status_code, self.headers, self.body, self.request_id)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, "
            f"google_status={self.google_status!r}, reason={self.reason!r}, "
            f"request_id={self.request_id!r}, message={self.message!r})"
        )


class ErrorResponse:
    """The HTTP answer behind an `APIStatusError` (`error.response`); the body is already read.

    `.status_code`, `.headers`, `.request_id`, `.json()` (the decoded body: a dict or list for a
    JSON body, else the text excerpt kept), `.text` and `.content` (that body as JSON text).
    """

    __slots__ = ("_body", "headers", "request_id", "status_code")

    def __init__(
        self, status_code: int, headers: Mapping[str, str], body: Any, request_id: str | None
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self._body = body
        self.request_id = request_id

    @property
    def is_closed(self) -> bool:
        return True

    def json(self) -> Any:
        return self._body

    @property
    def text(self) -> str:
        body = self._body
        if body is None:
            return ""
        return body if isinstance(body, str) else json.dumps(body)

    @property
    def content(self) -> bytes:
        return self.text.encode()

    def __repr__(self) -> str:
        return f"<ErrorResponse [{self.status_code}]>"


class BadRequestError(APIStatusError):
    """400: the request is malformed or asks for something the model cannot do."""


class AuthenticationError(APIStatusError):
    """401: the access token is missing, expired or not accepted."""


class PermissionDeniedError(APIStatusError):
    """403: the credentials may not use this project, model or endpoint."""


class NotFoundError(APIStatusError):
    """404: the project, location, endpoint or model does not exist."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the resource's state."""


class UnprocessableEntityError(APIStatusError):
    """422: the server understood the request but cannot process it."""


class RateLimitError(APIStatusError):
    """429: quota or shared capacity exhausted; back off and retry."""


class InternalServerError(APIStatusError):
    """5xx: the server or a proxy in front of it failed."""


class APIResponseValidationError(APIError):
    """A 2xx answer whose body we could not read as a chat completion (or chunk).

    The server did the work and billed it, so this is never retried. `.status_code` keeps the
    real status (200), `.body` a bounded excerpt of the raw body, `.path` where in valid JSON the
    shape was unexpected (`$.choices[0]...`, None when the body is not JSON at all).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str,
        path: str | None = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = redact(body)
        self.path = path
        self.request_id = request_id
        self.headers: Mapping[str, str] = headers or {}


class ResponseTooLargeError(APIError):
    """An answer grew past a size limit (`.limit_name`, `.limit` bytes); `.partial` for streams.

    Not retried: the server already produced (and billed) the answer.
    """

    def __init__(
        self,
        message: str,
        *,
        limit_name: str,
        limit: int,
        partial: ChatCompletion | None = None,
    ) -> None:
        super().__init__(message)
        self.limit_name = limit_name
        self.limit = limit
        self.partial = partial


class APIConnectionError(APIError):
    """No usable response arrived: the connection failed, was refused or was reset."""


class APITimeoutError(APIConnectionError):
    """A timeout fired; `.kind` says which one (connect, first_byte, idle or total).

    `.stage` says what the call was waiting for when it fired: "queue" (a concurrency slot),
    "rate_limit", "token" (an access token), "response" (the response headers), "body" (the
    rest of a non-streamed answer), "backoff", "stream"; None when not known.
    """

    def __init__(
        self, message: str, *, kind: TimeoutKind = "total", stage: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind: TimeoutKind = kind
        self.stage = stage


class TokenRefreshError(APIError):
    """No usable access token: fetching one from Google failed (`.retryable`: worth retrying)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class StreamInterruptedError(APIError):
    """A stream ended or failed before its finish reason; `.partial` holds what arrived."""

    def __init__(
        self,
        message: str,
        *,
        partial: ChatCompletion,
        chunks_received: int,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.partial: ChatCompletion = partial
        self.chunks_received = chunks_received
        self.cause = cause


class StreamTimeoutError(StreamInterruptedError, APITimeoutError):
    """A stream stopped by a timeout (`.kind`: "idle" or "total"); `.partial` holds what
    arrived. Caught by both `except StreamInterruptedError` and `except APITimeoutError`."""

    def __init__(
        self,
        message: str,
        *,
        partial: ChatCompletion,
        chunks_received: int,
        cause: APITimeoutError,
    ) -> None:
        StreamInterruptedError.__init__(
            self, message, partial=partial, chunks_received=chunks_received, cause=cause
        )
        self.kind = cause.kind
        self.stage = cause.stage


class StructuredOutputError(APIError):
    """The server answered, but not with JSON that could become `parsed`."""

    def __init__(self, message: str, *, completion: ChatCompletion, raw: str | None) -> None:
        super().__init__(message)
        self.completion = completion
        self.raw = raw
        """The text the model produced (None when it produced none)."""


class LengthFinishReasonError(StructuredOutputError):
    """The answer was cut at the token limit (`finish_reason == "length"`), so its JSON is
    incomplete: raise `max_tokens` / `max_completion_tokens`, or shorten what is asked."""


class ContentFilterFinishReasonError(StructuredOutputError):
    """The answer was stopped by a safety filter (`finish_reason == "content_filter"`)."""


class InvalidJSONError(StructuredOutputError):
    """The text is not JSON, or not JSON matching the requested schema; `.raw` holds it."""


# -- another library's exception, in a chain of ours ---------------------------------------------
class RedactedError(Exception):
    """Stands in a chain (`__cause__` / `__context__`) for another library's exception (aiohttp,
    google-auth, requests, ...): `.type_name` is its class (`module.QualName`), `.message` its
    text with secrets cut out, and its traceback is kept."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message


# -- decoding, outside a client -----------------------------------------------------------------
class SSEBufferOverflowError(ValueError):
    """One event (its data so far plus the line being read) grew past `max_event_size`.

    Raised by the standalone `SSEDecoder`; a client stream turns it into `ResponseTooLargeError`.
    """

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"server-sent event too large: {size} bytes buffered for one event, more than "
            f"max_event_size={limit} bytes; if the server really sends events this big, "
            f"raise the limit with SSEDecoder(max_event_size=...)"
        )
        self.size = size
        self.limit = limit


class UnknownModelPriceError(KeyError):
    """No price is known for a model; pass a price file that lists it."""

    def __str__(self) -> str:
        return str(self.args[0])


# -- batch jobs and bench runs ------------------------------------------------------------------
class BadInputError(ValueError):
    """The input has lines that cannot be sent; nothing was sent. `report()` lists them."""

    def __init__(self, path: Path, problems: list[InputProblem], count: int) -> None:
        self.path = path
        self.problems = problems
        self.count = count
        super().__init__(self.report())

    def report(self) -> str:
        noun = "line" if self.count == 1 else "lines"
        lines = [f"{self.path}: {self.count:,} bad input {noun}; nothing was sent. "
                 "Fix them and run the same command again:"]
        lines += [f"  {problem}" for problem in self.problems]
        if self.count > len(self.problems):
            lines.append(f"  ... and {self.count - len(self.problems):,} more")
        return "\n".join(lines)


class JobConfigError(ValueError):
    """The job's files cannot work together (e.g. output and input are the same file)."""


class JobStoppedError(Exception):
    """A stop was requested before any request was sent."""


class JournalCorruptError(ValueError):
    """A line of a batch output/errors file is not a batch record."""


class JournalLockedError(RuntimeError):
    """Another process is writing this batch file."""


class PlotUnavailableError(RuntimeError):
    """matplotlib is not installed; install the `plot` extra."""


# -- one classification of failures -------------------------------------------------------------
class FailureKind(str, enum.Enum):
    """What kind of failure ended an attempt or a call (the value is its stable name)."""

    STATUS = "status"
    """The server answered with an error status (see `Failure.status`)."""
    TIMEOUT = "timeout"
    """A limit of `Timeouts` fired (see `Failure.timeout`)."""
    CONNECTION = "connection_error"
    """The connection failed, was refused or reset before a usable answer."""
    INTERRUPTED = "interrupted"
    """A stream broke or ended before its finish reason."""
    UNEXPECTED_RESPONSE = "unexpected_response"
    """A 2xx answer that could not be read (never retried)."""
    TOO_LARGE = "response_too_large"
    """An answer past a size limit (never retried)."""
    STRUCTURED_OUTPUT = "structured_output"
    """An answer whose JSON could not become `parsed`."""
    TOKEN_REFRESH = "token_refresh"
    """No access token could be obtained."""
    INVALID_REQUEST = "invalid_request"
    """Refused before sending (the caller's request or configuration)."""
    INTERNAL = "internal_error"
    """Anything else: a bug on our side; please report it."""


@dataclass(frozen=True)
class Failure:
    """One failure, classified once; every consumer reads its names from here.

    - `label`: the retry cause in `client.stats.retries` ("429", "503", "connect",
      "first_byte", "idle", "connection", "interrupted", ...).
    - `code`: the batch error code in error records (Google's status such as
      "RESOURCE_EXHAUSTED", else `http_<status>`, else the kind's name).
    - `error_class`: the bench's error class (the exception's class name).
    """

    kind: FailureKind
    error_class: str
    status: int | None = None
    google_status: str | None = None
    timeout: TimeoutKind | None = None

    @property
    def label(self) -> str:
        if self.status is not None:
            return str(self.status)
        if self.timeout is not None:
            return self.timeout
        if self.kind is FailureKind.CONNECTION:
            return "connection"
        return str(self.kind.value)

    @property
    def code(self) -> str:
        if self.status is not None:
            return self.google_status or f"http_{self.status}"
        return str(self.kind.value)


def classify_failure(error: BaseException) -> Failure:
    """The `Failure` of any exception the client, batch or bench can meet."""
    name = type(error).__name__
    if isinstance(error, StreamTimeoutError):
        return Failure(FailureKind.TIMEOUT, name, timeout=error.kind)
    if isinstance(error, StreamInterruptedError):
        # A stream that stopped on an event we could not read: the answer arrived, unreadable.
        if isinstance(error.cause, APIResponseValidationError):
            return Failure(FailureKind.UNEXPECTED_RESPONSE, name)
        return Failure(FailureKind.INTERRUPTED, name)
    if isinstance(error, APIStatusError):
        return Failure(
            FailureKind.STATUS, name, status=error.status_code, google_status=error.google_status
        )
    if isinstance(error, APITimeoutError):
        return Failure(FailureKind.TIMEOUT, name, timeout=error.kind)
    if isinstance(error, APIConnectionError):
        return Failure(FailureKind.CONNECTION, name)
    if isinstance(error, APIResponseValidationError):
        return Failure(FailureKind.UNEXPECTED_RESPONSE, name)
    if isinstance(error, ResponseTooLargeError):
        return Failure(FailureKind.TOO_LARGE, name)
    if isinstance(error, StructuredOutputError):
        return Failure(FailureKind.STRUCTURED_OUTPUT, name)
    if isinstance(error, TokenRefreshError):
        return Failure(FailureKind.TOKEN_REFRESH, name)
    if isinstance(error, (InvalidRequestError, ConfigurationError, TypeError, ValueError)):
        return Failure(FailureKind.INVALID_REQUEST, name)
    return Failure(FailureKind.INTERNAL, name)


def __getattr__(name: str) -> Any:
    # Error-body helpers moved to `_protocol.error_body`; old imports keep working. Imported
    # lazily: that module imports this one.
    if name in ("make_status_error", "parse_error_body", "request_id_from_headers"):
        from ._protocol import error_body

        return getattr(error_body, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

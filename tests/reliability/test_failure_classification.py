"""One classification of failures: retry causes, batch error codes and bench error classes agree."""

from __future__ import annotations

import pytest

from aiovertexchat import ChatCompletion
from aiovertexchat._protocol.error_body import make_status_error
from aiovertexchat._reliability.retry import RetryPolicy
from aiovertexchat.batch.result import BatchResult
from aiovertexchat.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    FailureKind,
    InvalidRequestError,
    ResponseTooLargeError,
    StreamInterruptedError,
    StreamTimeoutError,
    TokenRefreshError,
    classify_failure,
)

PARTIAL = ChatCompletion(id="c", created=0, model="m", choices=[])

CASES = [
    # error, kind, label (retry cause), code (batch), error_class (bench)
    (make_status_error(429, b'{"error": {"status": "RESOURCE_EXHAUSTED"}}'),
     FailureKind.STATUS, "429", "RESOURCE_EXHAUSTED", "RateLimitError"),
    (make_status_error(502, b"<html>bad gateway</html>"),
     FailureKind.STATUS, "502", "http_502", "InternalServerError"),
    (APITimeoutError("t", kind="first_byte"),
     FailureKind.TIMEOUT, "first_byte", "timeout", "APITimeoutError"),
    (StreamTimeoutError("t", partial=PARTIAL, chunks_received=1,
                        cause=APITimeoutError("t", kind="idle")),
     FailureKind.TIMEOUT, "idle", "timeout", "StreamTimeoutError"),
    (APIConnectionError("reset"),
     FailureKind.CONNECTION, "connection", "connection_error", "APIConnectionError"),
    (StreamInterruptedError("cut", partial=PARTIAL, chunks_received=2),
     FailureKind.INTERRUPTED, "interrupted", "interrupted", "StreamInterruptedError"),
    (APIResponseValidationError("x", status_code=200, body="{"),
     FailureKind.UNEXPECTED_RESPONSE, "unexpected_response", "unexpected_response",
     "APIResponseValidationError"),
    (ResponseTooLargeError("x", limit_name="max_event_size", limit=1),
     FailureKind.TOO_LARGE, "response_too_large", "response_too_large",
     "ResponseTooLargeError"),
    (TokenRefreshError("no token"),
     FailureKind.TOKEN_REFRESH, "token_refresh", "token_refresh", "TokenRefreshError"),
    (InvalidRequestError("bad"),
     FailureKind.INVALID_REQUEST, "invalid_request", "invalid_request", "InvalidRequestError"),
    (RuntimeError("bug"), FailureKind.INTERNAL, "internal_error", "internal_error", "RuntimeError"),
]


@pytest.mark.parametrize(("error", "kind", "label", "code", "error_class"), CASES)
def test_each_failure_has_one_set_of_names(
    error: BaseException, kind: FailureKind, label: str, code: str, error_class: str
) -> None:
    failure = classify_failure(error)
    assert (failure.kind, failure.label, failure.code, failure.error_class) == (
        kind, label, code, error_class,
    )
    # The batch error record reads the same code.
    assert BatchResult(custom_id="a", error=error if isinstance(error, Exception) else None
                       ).error_code == code


@pytest.mark.parametrize(("error", "kind", "label", "code", "error_class"), CASES)
def test_retry_causes_are_the_failure_labels(
    error: BaseException, kind: FailureKind, label: str, code: str, error_class: str
) -> None:
    cause = RetryPolicy().classify(error)
    retried = {FailureKind.TIMEOUT, FailureKind.CONNECTION, FailureKind.INTERRUPTED}
    if kind is FailureKind.STATUS:
        assert cause == label  # 429 and 502 are both in the default retried statuses
    elif kind in retried:
        assert cause == label
    else:
        assert cause is None  # never re-sent: unreadable, too large, refused, ours


def test_an_unreadable_stream_event_is_never_retried_even_with_restarts_allowed() -> None:
    error = StreamInterruptedError(
        "bad chunk", partial=PARTIAL, chunks_received=0,
        cause=APIResponseValidationError("x", status_code=200, body="{"),
    )
    assert classify_failure(error).kind is FailureKind.UNEXPECTED_RESPONSE
    assert RetryPolicy(restart_on_interrupt=True).classify(error) is None

import pytest

from aiovertexchat.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    make_status_error,
    parse_error_body,
)

GOOGLE_429 = (
    b'{"error": {"code": 429, "message": "Resource exhausted. Please try again later.", '
    b'"status": "RESOURCE_EXHAUSTED", "details": [{"@type": '
    b'"type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED"}]}}'
)


def test_object_form() -> None:
    parsed = parse_error_body(GOOGLE_429)
    assert parsed.message == "Resource exhausted. Please try again later."
    assert parsed.google_status == "RESOURCE_EXHAUSTED"
    assert parsed.reason == "RATE_LIMIT_EXCEEDED"
    assert parsed.code == 429


def test_list_form() -> None:
    parsed = parse_error_body(b"[" + GOOGLE_429 + b"]")
    assert parsed.google_status == "RESOURCE_EXHAUSTED"
    assert parsed.reason == "RATE_LIMIT_EXCEEDED"
    assert parsed.message.startswith("Resource exhausted")


def test_html_form_uses_title() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body><h1>oops</h1></body></html>"
    assert parse_error_body(page).message == "502 Bad Gateway"


def test_html_without_title_strips_tags() -> None:
    assert parse_error_body(b"<p>Service <b>Unavailable</b></p>").message == "Service Unavailable"


def test_plain_text_and_empty() -> None:
    assert parse_error_body(b"  upstream connect error  ").message == "upstream connect error"
    assert parse_error_body(b"").message == ""


def test_long_text_is_cut() -> None:
    message = parse_error_body(b"x" * 5000).message
    assert len(message) == 301 and message.endswith("…")


def test_openai_style_error_object() -> None:
    parsed = parse_error_body(b'{"error": {"message": "bad", "type": "invalid_request_error"}}')
    assert parsed.message == "bad"
    assert parsed.google_status == "invalid_request_error"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (429, RateLimitError),
        (500, InternalServerError),
        (503, InternalServerError),
        (418, APIStatusError),
    ],
)
def test_status_maps_to_class(status: int, cls: type[APIStatusError]) -> None:
    error = make_status_error(status, b"")
    assert type(error) is cls
    assert error.status_code == status
    assert f"HTTP {status}" in str(error)
    assert "the server sent no error message" in str(error)


def test_message_names_status_reason_hint_and_request_id() -> None:
    error = make_status_error(429, GOOGLE_429, headers={"x-request-id": "req-7"})
    text = str(error)
    assert "HTTP 429 RESOURCE_EXHAUSTED (RATE_LIMIT_EXCEEDED)" in text
    assert "Resource exhausted" in text
    assert "hint: capacity or quota exhausted" in text
    assert "request id req-7" in text
    assert error.request_id == "req-7"
    assert error.google_status == "RESOURCE_EXHAUSTED"
    assert error.reason == "RATE_LIMIT_EXCEEDED"
    assert isinstance(error.body, dict)


def test_attempt_history_in_message() -> None:
    error = make_status_error(503, b"down")
    error.attempts = ["HTTP 503", "connection reset", "HTTP 503"]
    assert "after 3 attempts: #1 HTTP 503; #2 connection reset; #3 HTTP 503" in str(error)

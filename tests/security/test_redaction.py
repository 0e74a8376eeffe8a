"""The redaction itself (README "Security"): what is a secret, and how chains are made safe."""

from __future__ import annotations

import traceback

import msgspec

from aiovertexchat import (
    APIConnectionError,
    APIStatusError,
    AsyncVertexChat,
    ConfigurationError,
    RedactedError,
    StaticToken,
    StreamInterruptedError,
)
from aiovertexchat._protocol.decode import unreadable_response
from aiovertexchat._protocol.error_body import make_status_error
from aiovertexchat._redact import (
    MARKER,
    MAX_SECRETS,
    MIN_SECRET_LENGTH,
    describe_error,
    redact,
    redact_json,
    remember_secret,
    remember_secrets_in_form,
    remember_url_password,
    scrub_chain,
)
from aiovertexchat.batch import BatchResult
from aiovertexchat.types import ChatCompletion


def test_known_secrets_are_cut_out_wherever_they_appear() -> None:
    remember_secret("opaque-key-0123456789")
    assert redact("x=opaque-key-0123456789;y") == f"x={MARKER};y"
    assert redact("prefix opaque-key-0123456789opaque-key-0123456789") == (
        f"prefix {MARKER}{MARKER}"
    )


def test_secret_shapes_are_cut_out_without_being_known() -> None:
    text = (
        "Authorization: Bearer abcdefgh1234 / ya29.a0AfH6SMBxyz / "
        "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl / "
        '{"access_token": "tok123", "refresh_token":"r-1"} / assertion=abc.def&x=1 / '
        "https://user:hunter2@proxy.corp:3128/"
    )
    out = redact(text)
    for secret in ("abcdefgh1234", "ya29.a0AfH6SMBxyz", "eyJhbGciOiJSUzI1NiJ9", "tok123",
                   "r-1", "abc.def", "hunter2"):
        assert secret not in out, secret
    assert "https://user:[redacted]@proxy.corp:3128/" in out
    assert "&x=1" in out  # the field after a secret survives


def test_prose_and_short_strings_are_left_alone() -> None:
    remember_secret("short")  # below MIN_SECRET_LENGTH: not a secret we can tell from words
    assert MIN_SECRET_LENGTH == 10
    text = "a bearer token; pass api_key=/token=/auth=; the short story"
    assert redact(text) == text


def test_the_registry_is_bounded_and_keeps_the_most_recent() -> None:
    first = "bounded-secret-first-00000"
    remember_secret(first)
    for i in range(MAX_SECRETS):
        remember_secret(f"bounded-secret-{i:05d}-filler")
    assert first in redact(first)  # the oldest was forgotten
    assert redact(f"bounded-secret-{MAX_SECRETS - 1:05d}-filler") == MARKER


def test_form_bodies_and_url_passwords_register_their_secrets() -> None:
    remember_secrets_in_form(b"grant_type=x&assertion=form-assertion-0123&scope=s")
    assert redact("got form-assertion-0123") == f"got {MARKER}"
    remember_url_password("http://someone:p%40ss-word-0123@proxy:3128")
    assert "p@ss-word-0123" not in redact("Basic auth with p@ss-word-0123")
    assert "p%40ss-word-0123" not in redact("url had p%40ss-word-0123")


def test_redact_json_copies_and_survives_depth_and_cycles() -> None:
    original = {"a": ["Bearer abcdefghijklm", ("x",)], "Bearer abcdefghijklm": 1}
    copy = redact_json(original)
    assert copy == {"a": [f"Bearer {MARKER}", ["x"]], f"Bearer {MARKER}": 1}
    assert original["a"][0] == "Bearer abcdefghijklm"  # the input is untouched
    deep: list[object] = []
    node = deep
    for _ in range(50_000):
        child: list[object] = []
        node.append(child)
        node = child
    assert isinstance(redact_json(deep), list)
    cyclic: dict[str, object] = {"a": 1}
    cyclic["self"] = cyclic
    assert redact_json(cyclic) == {"a": 1, "self": MARKER}


def test_excerpts_are_redacted_before_they_are_cut() -> None:
    remember_secret("excerpt-secret-0123456789abcdef")
    for cut in range(280, 305):
        page = b"<html>" + b"x" * cut + b" excerpt-secret-0123456789abcdef</html>"
        error = make_status_error(502, page)
        assert "excerpt-secret" not in str(error) and "excerpt-secret" not in str(error.body)
    body = b"y" * 490 + b"excerpt-secret-0123456789abcdef"
    unreadable = unreadable_response(body, msgspec.DecodeError("x"), what="a chat.completion",
                                     status=200, headers={}, request_id=None)
    assert "excerpt-secret" not in unreadable.body and "excerpt-sec" not in unreadable.body


def test_every_error_message_and_body_is_redacted_at_construction() -> None:
    remember_secret("construction-secret-0123")
    error = APIStatusError("said construction-secret-0123", status_code=500,
                           body={"m": ["construction-secret-0123"]})
    assert "construction-secret" not in str(error) + repr(error) + repr(error.args)
    assert error.body == {"m": [MARKER]}
    config = ConfigurationError("base_url 'http://u:construction-pass-01@h/v1' is wrong")
    assert "construction-pass-01" not in str(config)


CHAIN_SECRET = "chain-" + "secret-0123456789"  # (tracebacks quote source lines: not this)


def _raise_chain() -> APIConnectionError:
    class LeakyError(Exception):
        def __init__(self, headers: dict[str, str]) -> None:
            super().__init__("request failed", headers)
            self.headers = headers

    try:
        try:
            raise LeakyError({"Authorization": f"Bearer {CHAIN_SECRET}"})
        except LeakyError as inner:
            raise OSError(f"reset with Bearer {CHAIN_SECRET}") from inner
    except OSError as exc:
        error = APIConnectionError("the connection failed")
        error.__cause__ = exc
        error.__context__ = exc.__cause__
        error.__suppress_context__ = False  # both links shown
        return error


def test_scrub_chain_replaces_foreign_exceptions_keeping_their_class_and_traceback() -> None:
    error = scrub_chain(_raise_chain())
    cause = error.__cause__
    assert isinstance(cause, RedactedError)
    assert cause.type_name == "builtins.OSError"
    assert cause.message == f"reset with Bearer {MARKER}"
    assert cause.__traceback__ is not None  # where it happened is kept
    inner = cause.__cause__
    assert isinstance(inner, RedactedError) and inner.type_name.endswith("LeakyError")
    assert error.__context__ is inner  # the same original gets one stand-in
    text = "".join(traceback.format_exception(error))
    assert "chain-secret" not in text and "LeakyError" in text and "OSError" in text
    for link in (error, cause, inner):
        assert "chain-secret" not in repr(link) + repr(link.args) + str(link)


def test_scrub_chain_follows_cause_attributes_and_stops_on_cycles() -> None:
    inner = _raise_chain()
    outer = StreamInterruptedError("broke", partial=ChatCompletion(), chunks_received=0,
                                   cause=inner)
    outer.__cause__ = inner
    a, b = ValueError("a Bearer cycle-secret-0123"), KeyError("b")
    a.__context__, b.__context__ = b, a
    inner.__context__ = a
    scrub_chain(outer)
    assert outer.cause is inner and isinstance(inner.__cause__, RedactedError)
    assert isinstance(inner.__context__, RedactedError)
    assert "cycle-secret" not in "".join(traceback.format_exception(outer))


def test_describe_error_speaks_for_a_stand_in() -> None:
    stand_in = RedactedError("aiohttp.client_exceptions.ClientOSError", "reset by peer")
    assert describe_error(stand_in) == "ClientOSError: reset by peer"
    assert describe_error(ValueError("Bearer describe-secret-0123")) == (
        f"ValueError: Bearer {MARKER}"
    )


def test_batch_records_are_redacted_whatever_raised() -> None:
    remember_secret("record-secret-0123456789")
    result = BatchResult("id-1", error=RuntimeError("plug-in said record-secret-0123456789"))
    assert b"record-secret" not in result.to_line()


async def test_auth_sources_register_what_they_hand_out() -> None:
    StaticToken("static-registered-0123456789")
    assert redact("static-registered-0123456789") == MARKER
    tokens = iter(["callable-registered-0001", "callable-registered-0002"])
    client = AsyncVertexChat(base_url="http://127.0.0.1:9/v1", token=lambda: next(tokens),
                             environ={})
    await client._auth.headers()
    client._auth.invalidate()
    await client._auth.headers()
    assert redact("callable-registered-0001 callable-registered-0002") == f"{MARKER} {MARKER}"
    await client.aclose()


async def test_headers_given_by_the_caller_count_as_secrets() -> None:
    async with AsyncVertexChat(
        base_url="http://127.0.0.1:9/v1", environ={},
        default_headers={"x-goog-api-key": "goog-api-key-0123456789"},
    ) as client:
        client._call(b"{}", {}, stream=False, timeout=None, retry=None,
                     extra_headers={"Authorization": "Basic extra-header-0123456789"})
    assert redact("goog-api-key-0123456789 extra-header-0123456789") == f"{MARKER} {MARKER}"

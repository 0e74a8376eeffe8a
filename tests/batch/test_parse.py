"""Batch input checks: every documented bad-input case, and valid lines round-tripping."""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiovertexchat.batch import (
    BatchRequest,
    InputProblem,
    InvalidRequestError,
    coerce_request,
    parse_line,
)

BODY = {"model": "google/gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}


def line(**fields: Any) -> bytes:
    base: dict[str, Any] = {
        "custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": BODY,
    }
    base.update(fields)
    return json.dumps({k: v for k, v in base.items() if v is not ...}).encode() + b"\n"


def problem(raw: bytes, number: int = 7) -> InputProblem:
    parsed = parse_line(raw, number)
    assert isinstance(parsed, InputProblem), parsed
    assert parsed.line == number
    return parsed


def test_valid_line() -> None:
    parsed = parse_line(line(custom_id="req-1"), 3)
    assert parsed == BatchRequest("req-1", BODY, 3)


def test_blank_lines_are_skipped() -> None:
    assert parse_line(b"\n", 1) is None
    assert parse_line(b"   \r\n", 2) is None


def test_crlf_and_bom_are_accepted() -> None:
    assert isinstance(parse_line(line().replace(b"\n", b"\r\n"), 2), BatchRequest)
    assert isinstance(parse_line(b"\xef\xbb\xbf" + line(), 1), BatchRequest)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"custom_id": "a", "method": "POST"', "malformed JSON: Input data was truncated"),
        (b"{custom_id: 1}\n", "malformed JSON"),
        (b'["a"]\n', "not a JSON object"),
        (line(custom_id=...), "missing custom_id"),
        (line(custom_id=None), "missing custom_id"),
        (line(custom_id=""), "custom_id is empty"),
        (line(custom_id=12), "custom_id must be a string, not int"),
        (line(method="GET"), "method is 'GET'; only 'POST' is supported"),
        (line(method=...), "method is missing; only 'POST' is supported"),
        (line(url="/v1/embeddings"),
         "url is '/v1/embeddings'; only '/v1/chat/completions' is supported"),
        (line(url=...), "url is missing"),
        (line(body=...), "missing body"),
        (line(body=[1]), "body must be a JSON object, not list"),
        (line(body={"messages": []}), "body.messages must be a non-empty list"),
        (line(body={"messages": ["hi"]}), "body.messages[0] must be an object"),
        (line(body={**BODY, "temprature": 0}),
         "unknown body parameter 'temprature' (did you mean 'temperature'?)"),
        (line(body={**BODY, "stream": True}), "body.stream is true"),
        (line(body={**BODY, "model": 3}), "body.model must be a string"),
    ],
)
def test_bad_lines_are_reported_with_line_number(raw: bytes, expected: str) -> None:
    found = problem(raw)
    assert expected in found.message
    assert str(found).startswith("line 7: ")


def test_problem_keeps_the_custom_id_when_it_is_usable() -> None:
    assert problem(line(custom_id="x", method="GET")).custom_id == "x"
    assert problem(line(custom_id=5)).custom_id is None


def test_long_custom_id_is_shortened_in_messages() -> None:
    from aiovertexchat.batch.parse import quote_id

    assert quote_id("a" * 500) == repr("a" * 80 + "…")


def test_gemini_extra_body_and_stream_false_are_accepted() -> None:
    body = {**BODY, "stream": False, "extra_body": {"google": {"thinking_config": {}}}}
    parsed = parse_line(line(body=body), 1)
    assert isinstance(parsed, BatchRequest) and parsed.body == body


ids = st.text(min_size=1, max_size=40)
texts = st.text(max_size=60)


@given(custom_id=ids, content=texts, temperature=st.none() | st.floats(0, 2))
def test_any_valid_line_parses_back_to_its_fields(
    custom_id: str, content: str, temperature: float | None
) -> None:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": content}]}
    if temperature is not None:
        body["temperature"] = temperature
    parsed = parse_line(line(custom_id=custom_id, body=body), 5)
    assert parsed == BatchRequest(custom_id, body, 5)


@given(raw=st.binary(max_size=80))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    parsed = parse_line(raw, 1)
    assert parsed is None or isinstance(parsed, (BatchRequest, InputProblem))


def test_coerce_accepts_batch_lines_plain_bodies_and_requests() -> None:
    req = BatchRequest("z", BODY)
    assert coerce_request(req) is req
    assert coerce_request({"custom_id": "a", "body": BODY}) == BatchRequest("a", BODY)
    assert coerce_request({"custom_id": "b", **BODY}) == BatchRequest("b", BODY)
    assert coerce_request({"id": "c", **BODY}) == BatchRequest("c", BODY)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("text", "must be a dict or BatchRequest, not str"),
        ({"body": BODY}, "missing custom_id"),
        ({"custom_id": "a", "body": BODY, "url": "/v1/embeddings"}, "url is"),
        ({"custom_id": "a", "messages": "hi"}, "body.messages must be a non-empty list"),
        ({"custom_id": "a", **BODY, "max_token": 3}, "did you mean 'max_tokens'?"),
    ],
)
def test_coerce_refuses_bad_items(item: Any, expected: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        coerce_request(item)
    assert expected in str(info.value)

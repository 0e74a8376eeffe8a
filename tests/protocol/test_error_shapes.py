"""Error text from the shapes servers really send (issue 12, kind D).

Never "no error message" when the body is not empty: the text is read from `message`,
`detail`/`details` (string and structured forms), `msg`, `error_message`, nested under `error` or
not; otherwise a short compact excerpt of the body is quoted.
"""

from __future__ import annotations

import pytest

from aiovertexchat import (
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    UnprocessableEntityError,
)
from aiovertexchat._protocol.error_body import make_status_error, parse_error_body

CASES = [
    # (source, status, body, text the message must contain, class)
    ("FastAPI 404 (vllm-project/vllm#5082)", 404, b'{"detail":"Not Found"}', "Not Found",
     NotFoundError),
    ("FastAPI 422 validation list", 422,
     b'{"detail":[{"type":"missing","loc":["body","messages"],"msg":"Field required",'
     b'"input":{}}]}', "body.messages: Field required", UnprocessableEntityError),
    ("orchestrator {code, details} (fms-guardrails-orchestrator#146)", 400,
     b'{"code": 400, "details": "min_new_tokens must be <= max_new_tokens"}',
     "min_new_tokens must be <= max_new_tokens", BadRequestError),
    ("vLLM/SGLang top level (QwenLM/Qwen3#241)", 400,
     b'{"object":"error","message":"max_tokens must be at least 1, got -2815.",'
     b'"type":"BadRequestError","param":null,"code":400}', "max_tokens must be at least 1",
     BadRequestError),
    ("TGI (opea-project/GenAIInfra#487)", 422,
     b'{"error":"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 2048",'
     b'"error_type":"validation"}', "Input validation error", UnprocessableEntityError),
    ("Ollama native", 404, b'{"error":"model \\"llama9\\" not found, try pulling it first"}',
     'model "llama9" not found', NotFoundError),
    ("llama.cpp (ggml-org/llama.cpp#23542)", 400,
     b'{"error":{"code":400,"message":"Output of tool call should be \'Input text\'",'
     b'"type":"invalid_request_error"}}', "Output of tool call should be", BadRequestError),
    ("LM Studio (zendev-sh/goai#110)", 500,
     b'{"error":{"message":"Compute error."},"message":"Compute error."}', "Compute error.",
     InternalServerError),
    ("LiteLLM string code and 'None' type (BerriAI/litellm#39521)", 400,
     b'{"error":{"message":"Violated guardrail policy","type":"None","param":null,"code":"400"}}',
     "Violated guardrail policy", BadRequestError),
    ("detail as an object", 401, b'{"detail":{"message":"bad key"}}', "bad key",
     AuthenticationError),
    ("msg", 429, b'{"msg":"slow down"}', "slow down", RateLimitError),
    ("error_message", 500, b'{"error_message":"worker died"}', "worker died",
     InternalServerError),
    ("nothing readable: compact excerpt", 500, b'{ "code" : 500 ,\n "x": [1, 2] }',
     '{"code":500,"x":[1,2]}', InternalServerError),
    ("a JSON string", 503, b'"upstream overloaded"', "upstream overloaded", InternalServerError),
]


@pytest.mark.parametrize(("source", "status", "raw", "text", "cls"), CASES,
                         ids=[c[0] for c in CASES])
def test_the_text_comes_from_the_shape_the_server_used(
    source: str, status: int, raw: bytes, text: str, cls: type[Exception]
) -> None:
    error = make_status_error(status, raw)
    assert type(error) is cls
    assert text in error.message
    assert "no error message" not in error.message


def test_an_empty_body_still_says_so() -> None:
    assert "the server sent no error message" in make_status_error(500, b"").message


def test_litellm_none_type_is_not_shown_as_a_status() -> None:
    error = make_status_error(400, CASES[8][2])
    assert error.google_status is None and "HTTP 400:" in error.message


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b'{"code": 400, "details": "x"}', 400),
        (b'{"error": {"code": "429", "message": "x"}}', 429),
        (b'{"error": {"status": "RESOURCE_EXHAUSTED", "message": "x"}}', 429),
        (b'{"error": {"type": "invalid_request_error", "message": "x"}}', 400),
        (b'{"error": "x", "error_type": "overloaded"}', 429),
        (b'{"error": "x", "error_type": "validation"}', 422),
        (b'[{"error": {"code": 503, "message": "x", "status": "UNAVAILABLE"}}]', 503),
        (b'{"error": {"message": "x"}}', None),
        (b'{"code": true}', None),
    ],
)
def test_the_status_an_error_body_names(raw: bytes, status: int | None) -> None:
    assert parse_error_body(raw).status == status


def test_google_reason_and_status_still_read() -> None:
    raw = (b'{"error":{"code":429,"message":"Resource exhausted.","status":"RESOURCE_EXHAUSTED",'
           b'"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo",'
           b'"reason":"RATE_LIMIT_EXCEEDED"}]}}')
    error = make_status_error(429, raw)
    assert error.google_status == "RESOURCE_EXHAUSTED" and error.reason == "RATE_LIMIT_EXCEEDED"
    assert "Resource exhausted." in error.message

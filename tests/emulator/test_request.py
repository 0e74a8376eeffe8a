"""The emulator's request checks (body shape, routes, model names): sans-IO."""

from __future__ import annotations

import re

import msgspec
import pytest

from aiovertexchat.emulator.request import Message, RequestError, Route, parse_request


class TestRequestChecks:
    def test_unknown_parameters_are_ignored(self) -> None:
        request = parse_request(
            b'{"messages":[{"role":"user","content":"hi","name":"x"}],"temperatur":9,'
            b'"extra_body":{"google":{}},"tools":[]}',
            Route.PLAIN,
        )
        assert request.messages == [Message("user", "hi")]

    @pytest.mark.parametrize(
        ("body", "complaint"),
        [
            (b"", "empty"),
            (b"{", "Invalid JSON payload"),
            (b"[]", "Expected `object`"),
            (b"{}", "missing required field `messages`"),
            (b'{"messages":[]}', "length >= 1"),
            (b'{"messages":[{"content":"x"}]}', "`role`"),
            (b'{"messages":[{"role":"user"}],"max_tokens":"9"}', "$.max_tokens"),
            (b'{"messages":[{"role":"user"}],"max_tokens":0}', "$.max_tokens"),
            (b'{"messages":[{"role":"user"}],"n":9}', "$.n"),
            (b'{"messages":[{"role":"user"}],"stop":3}', "$.stop"),
        ],
    )
    def test_rejects(self, body: bytes, complaint: str) -> None:
        with pytest.raises(RequestError, match=re.escape(complaint)):
            parse_request(body, Route.PLAIN)

    @pytest.mark.parametrize("model", [None, "gemini-2.5-flash", "google/", "meta/llama"])
    def test_managed_endpoint_wants_google_models(self, model: str | None) -> None:
        body = msgspec.json.encode({"messages": [{"role": "user"}], "model": model})
        with pytest.raises(RequestError, match=re.escape("google/{MODEL_ID}")):
            parse_request(body, Route.MANAGED)
        assert parse_request(body, Route.DEPLOYED).model == model

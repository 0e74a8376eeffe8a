"""The emulator's wire encoding (SSE events, Google error bodies): sans-IO."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from aiovertexchat.emulator import google_error
from aiovertexchat.emulator.content import (
    plan_completion,
)
from aiovertexchat.emulator.wire import StreamEncoder
from tests.helpers import (
    chat_request,
)


class TestWire:
    @given(
        st.lists(
            st.tuples(
                st.lists(st.text(max_size=5), max_size=6), st.sampled_from(["stop", "length"])
            ),
            min_size=1,
            max_size=3,
        ),
        st.booleans(),
    )
    def test_events_reassemble_to_the_plan(
        self, choices: list[tuple[list[str], str]], include_usage: bool
    ) -> None:
        plan = plan_completion(chat_request(n=len(choices)), seed=0, default_tokens=0, model="m/x")
        for choice, (pieces, finish) in zip(plan.choices, choices, strict=True):
            choice.pieces, choice.finish_reason = [p for p in pieces if p], finish
        events = list(
            StreamEncoder('chatcmpl-"q"', 5, plan.model).events(plan, include_usage=include_usage)
        )
        texts: dict[int, str] = {}
        finishes: dict[int, str] = {}
        for event in events:
            assert event.startswith(b"data: ") and event.endswith(b"\n\n")
            chunk = msgspec.json.decode(event[6:])
            assert (chunk["id"], chunk["object"], chunk["created"], chunk["model"]) == (
                'chatcmpl-"q"',
                "chat.completion.chunk",
                5,
                "m/x",
            )
            if not chunk["choices"]:
                assert chunk["usage"]["completion_tokens"] == plan.completion_tokens
                continue
            (c,) = chunk["choices"]
            first = c["index"] not in texts
            assert ("role" in c["delta"]) == first
            assert c["index"] not in finishes
            texts[c["index"]] = texts.get(c["index"], "") + c["delta"]["content"]
            if c["finish_reason"] is not None:
                finishes[c["index"]] = c["finish_reason"]
        assert texts == {c.index: c.text for c in plan.choices}
        assert finishes == {c.index: c.finish_reason for c in plan.choices}
        assert (b'"usage"' in events[-1]) == include_usage

    def test_google_error_shape(self) -> None:
        assert google_error(429, "RESOURCE_EXHAUSTED", "busy", "RATE_LIMIT_EXCEEDED") == {
            "error": {
                "code": 429,
                "message": "busy",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "RATE_LIMIT_EXCEEDED",
                        "domain": "googleapis.com",
                    }
                ],
            }
        }
        assert google_error(404, "NOT_FOUND", "gone") == {
            "error": {"code": 404, "message": "gone", "status": "NOT_FOUND"}
        }
        assert google_error(503)["error"]["status"] == "UNAVAILABLE"

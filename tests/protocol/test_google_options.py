"""GoogleExtras: serialisation under the literal `extra_body.google` key, merging with the raw
form from Google's docs, and the conflicts refused before sending."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from aiovertexchat import (
    AsyncVertexChat,
    ConflictingParametersError,
    GoogleExtras,
    SafetySetting,
    ThinkingConfig,
)
from aiovertexchat._protocol.google_options import effective_google, merge_google
from aiovertexchat._protocol.params import build_body
from aiovertexchat.emulator import Emulator

FULL = GoogleExtras(
    thinking_config=ThinkingConfig(include_thoughts=True, thinking_budget=1024),
    thought_tag_marker="think",
    safety_settings=[
        SafetySetting(category="HARM_CATEGORY_HARASSMENT", threshold="BLOCK_ONLY_HIGH")
    ],
    cached_content="projects/p/locations/us-central1/cachedContents/c1",
)
FULL_DICT = {
    "thinking_config": {"include_thoughts": True, "thinking_budget": 1024},
    "thought_tag_marker": "think",
    "safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}],
    "cached_content": "projects/p/locations/us-central1/cachedContents/c1",
}


def body_of(extra_body: Any) -> dict[str, Any]:
    raw = build_body(
        model="google/gemini-2.5-flash",
        messages=[{"role": "user", "content": "hi"}],
        stream=False,
        params={"web_search_options": {}, "reasoning_effort": None},
        extra_body=extra_body,
    )
    result: dict[str, Any] = msgspec.json.decode(raw)
    return result


def test_typed_extras_serialise_under_the_literal_extra_body_key() -> None:
    body = body_of(merge_google(None, FULL))
    assert body["extra_body"] == {"google": FULL_DICT}
    assert body["web_search_options"] == {}  # passed through as given
    assert "reasoning_effort" not in body
    assert "google" not in body  # never at the top level, where Vertex would ignore it


def test_none_fields_are_left_out() -> None:
    extras = GoogleExtras(thinking_config=ThinkingConfig(thinking_level="low"))
    assert extras.to_dict() == {"thinking_config": {"thinking_level": "low"}}
    assert merge_google(None, GoogleExtras()) is None


def test_raw_form_from_googles_docs_is_unchanged() -> None:
    raw = {"extra_body": {"google": FULL_DICT}}
    assert merge_google(raw, None) is raw
    assert body_of(raw)["extra_body"] == {"google": FULL_DICT}


def test_typed_and_raw_forms_deep_merge() -> None:
    raw = {
        "extra_body": {"google": {"thinking_config": {"thinking_budget": 1024}, "x": 1}},
        "other": 2,
    }
    typed = GoogleExtras(
        thinking_config=ThinkingConfig(include_thoughts=True, thinking_budget=1024),
        thought_tag_marker="t",
    )
    merged = merge_google(raw, typed)
    assert merged == {
        "extra_body": {
            "google": {
                "thinking_config": {"thinking_budget": 1024, "include_thoughts": True},
                "x": 1,
                "thought_tag_marker": "t",
            }
        },
        "other": 2,
    }
    assert raw["extra_body"]["google"]["thinking_config"] == {"thinking_budget": 1024}  # untouched
    assert effective_google(merged)["thought_tag_marker"] == "t"
    # A plain dict works as google= too.
    assert merge_google(None, {"cached_content": "c"}) == {
        "extra_body": {"google": {"cached_content": "c"}}
    }


def test_conflicting_values_name_the_setting() -> None:
    raw = {"extra_body": {"google": {"thinking_config": {"thinking_budget": 10}}}}
    typed = GoogleExtras(thinking_config=ThinkingConfig(thinking_budget=20))
    with pytest.raises(ConflictingParametersError) as caught:
        merge_google(raw, typed)
    message = str(caught.value)
    assert "extra_body.google.thinking_config.thinking_budget" in message
    assert "20" in message and "10" in message


def test_marker_must_be_a_bare_tag_name() -> None:
    with pytest.raises(ValueError, match="thought_tag_marker"):
        GoogleExtras(thought_tag_marker="<think>")


async def test_effort_and_thinking_config_are_refused_before_sending(emulator: Emulator) -> None:
    async with AsyncVertexChat(base_url=emulator.vertex_base_url(), api_key="t") as client:
        messages = [{"role": "user", "content": "hi"}]
        with pytest.raises(ConflictingParametersError, match="reasoning_effort"):
            await client.chat.completions.create(
                model="google/gemini-2.5-flash",
                messages=messages,
                reasoning_effort="low",
                google=GoogleExtras(thinking_config=ThinkingConfig(thinking_budget=100)),
            )
        with pytest.raises(ConflictingParametersError):
            await client.chat.completions.create(
                model="google/gemini-2.5-flash",
                messages=messages,
                stream=True,
                reasoning_effort="high",
                extra_body={"extra_body": {"google": {"thinking_config": {}}}},
            )
        assert emulator.stats.requests == 0
        # Either one alone is fine, and thinking shows up in usage.
        done = await client.chat.completions.create(
            model="google/gemini-2.5-flash", messages=messages, reasoning_effort="low"
        )
        assert done.usage is not None and done.usage.reasoning_tokens == 4



def test_typos_of_the_new_keywords_get_a_suggestion() -> None:
    from aiovertexchat._protocol.params import check_param_names
    from aiovertexchat.client import _CALL_KEYWORDS

    with pytest.raises(TypeError, match="did you mean 'separate_thoughts'"):
        check_param_names(["separate_thought"], call_keywords=_CALL_KEYWORDS)
    with pytest.raises(TypeError, match="did you mean 'google'"):
        check_param_names(["googel"], call_keywords=_CALL_KEYWORDS)

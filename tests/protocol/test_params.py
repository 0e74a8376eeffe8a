import msgspec
import pytest

from aiovertexchat._protocol.params import build_body, check_param_names
from aiovertexchat.types import ChatCompletionMessage


def test_unknown_parameter_names_closest() -> None:
    with pytest.raises(TypeError, match=r"'temprature'; did you mean 'temperature'\?"):
        check_param_names(["temperature", "temprature"])


def test_unknown_parameter_without_close_match() -> None:
    with pytest.raises(TypeError, match="unknown parameter 'zzz'") as info:
        check_param_names(["zzz"])
    assert "did you mean" not in str(info.value)
    assert "extra_body" in str(info.value)


def test_known_parameters_pass() -> None:
    check_param_names(["max_tokens", "stream_options", "reasoning_effort", "web_search_options"])


def test_body_drops_none_and_merges_extra_body_last() -> None:
    raw = build_body(
        model="google/gemini-2.5-flash",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        params={"temperature": 0.5, "top_p": None, "n": 2},
        extra_body={"n": 3, "extra_body": {"google": {"thought_tag_marker": "think"}}},
    )
    assert msgspec.json.decode(raw) == {
        "messages": [{"role": "user", "content": "hi"}],
        "model": "google/gemini-2.5-flash",
        "stream": True,
        "temperature": 0.5,
        "n": 3,
        "extra_body": {"google": {"thought_tag_marker": "think"}},
    }


def test_returned_message_objects_serialise_without_nulls() -> None:
    message = ChatCompletionMessage(role="assistant", content="hello")
    raw = build_body(model=None, messages=[message], stream=False, params={})
    assert msgspec.json.decode(raw) == {"messages": [{"role": "assistant", "content": "hello"}]}


@pytest.mark.parametrize("messages", ["hello", [], None])
def test_bad_messages_are_refused(messages: object) -> None:
    with pytest.raises((TypeError, ValueError), match="messages"):
        build_body(model=None, messages=messages, stream=False, params={})  # type: ignore[arg-type]

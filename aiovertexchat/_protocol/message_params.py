"""The shapes of request messages as TypedDicts, named and shaped as in the OpenAI SDK.

For annotating your own message lists (`messages: list[ChatCompletionMessageParam] = [...]`)
without the `openai` package; the OpenAI SDK's TypedDicts are accepted as well. Vertex's
additions are included: `extra_content` on messages, content parts and tool calls, and an
`image_url` given as a plain URL string (`"gs://..."`), as in Google's samples.

`create()` takes any of these, a returned `ChatCompletionMessage` (appended to continue the
conversation), or any mapping: see `MessageParam`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Union

if sys.version_info >= (3, 11):
    from typing import Required
else:  # pragma: no cover - exercised on 3.10 only
    from typing_extensions import Required

if TYPE_CHECKING:
    from ..types import ChatCompletionMessage

__all__ = [
    "ChatCompletionAssistantMessageParam",
    "ChatCompletionContentPartParam",
    "ChatCompletionDeveloperMessageParam",
    "ChatCompletionMessageParam",
    "ChatCompletionSystemMessageParam",
    "ChatCompletionToolMessageParam",
    "ChatCompletionUserMessageParam",
    "MessageParam",
]


class ImageURL(TypedDict, total=False):
    url: Required[str]
    detail: Literal["auto", "low", "high"]


class InputAudio(TypedDict, total=False):
    data: Required[str]
    format: Required[str]


class FileData(TypedDict, total=False):
    file_data: str
    file_id: str
    filename: str


class ChatCompletionContentPartTextParam(TypedDict, total=False):
    type: Required[Literal["text"]]
    text: Required[str]
    extra_content: Mapping[str, Any]


class ChatCompletionContentPartImageParam(TypedDict, total=False):
    type: Required[Literal["image_url"]]
    image_url: Required[ImageURL | str]
    extra_content: Mapping[str, Any]


class ChatCompletionContentPartInputAudioParam(TypedDict, total=False):
    type: Required[Literal["input_audio"]]
    input_audio: Required[InputAudio]
    extra_content: Mapping[str, Any]


class ChatCompletionContentPartFileParam(TypedDict, total=False):
    type: Required[Literal["file"]]
    file: Required[FileData]
    extra_content: Mapping[str, Any]


class ChatCompletionContentPartRefusalParam(TypedDict, total=False):
    type: Required[Literal["refusal"]]
    refusal: Required[str]


ChatCompletionContentPartParam = (
    ChatCompletionContentPartTextParam
    | ChatCompletionContentPartImageParam
    | ChatCompletionContentPartInputAudioParam
    | ChatCompletionContentPartFileParam
)


class ChatCompletionSystemMessageParam(TypedDict, total=False):
    role: Required[Literal["system"]]
    content: Required[str | Iterable[ChatCompletionContentPartTextParam]]
    name: str
    extra_content: Mapping[str, Any]


class ChatCompletionDeveloperMessageParam(TypedDict, total=False):
    role: Required[Literal["developer"]]
    content: Required[str | Iterable[ChatCompletionContentPartTextParam]]
    name: str
    extra_content: Mapping[str, Any]


class ChatCompletionUserMessageParam(TypedDict, total=False):
    role: Required[Literal["user"]]
    content: Required[str | Iterable[ChatCompletionContentPartParam]]
    name: str
    extra_content: Mapping[str, Any]


class FunctionCallParam(TypedDict):
    name: str
    arguments: str


class ChatCompletionMessageToolCallParam(TypedDict, total=False):
    id: Required[str]
    type: Required[Literal["function"]]
    function: Required[FunctionCallParam]
    extra_content: Mapping[str, Any]


class ChatCompletionAssistantMessageParam(TypedDict, total=False):
    role: Required[Literal["assistant"]]
    content: (
        str
        | Iterable[ChatCompletionContentPartTextParam | ChatCompletionContentPartRefusalParam]
        | None
    )
    name: str
    refusal: str | None
    tool_calls: Iterable[ChatCompletionMessageToolCallParam]
    function_call: FunctionCallParam | None
    extra_content: Mapping[str, Any]


class ChatCompletionToolMessageParam(TypedDict, total=False):
    role: Required[Literal["tool"]]
    content: Required[str | Iterable[ChatCompletionContentPartTextParam]]
    tool_call_id: Required[str]
    extra_content: Mapping[str, Any]


class ChatCompletionFunctionMessageParam(TypedDict):
    role: Literal["function"]
    content: str | None
    name: str


ChatCompletionMessageParam = (
    ChatCompletionDeveloperMessageParam
    | ChatCompletionSystemMessageParam
    | ChatCompletionUserMessageParam
    | ChatCompletionAssistantMessageParam
    | ChatCompletionToolMessageParam
    | ChatCompletionFunctionMessageParam
)
"""One request message, as the OpenAI SDK types it."""

# (Union: a forward reference cannot take part in `|` at runtime.)
MessageParam = Union[ChatCompletionMessageParam, "ChatCompletionMessage", Mapping[str, Any]]
"""What `create(messages=[...])` takes per message: a `ChatCompletionMessageParam`, a
`ChatCompletionMessage` returned earlier (sent back as it came), or any mapping."""

"""Typed stream events, as the OpenAI SDK's `chat.completions.stream()` yields them (sans-IO).

`EventBuilder.events(chunk)` turns each chunk into the events the OpenAI SDK would fire for it,
in the same order: a `ChunkEvent`, then per choice `content.delta`, `refusal.delta`,
`tool_calls.function.arguments.delta`, `logprobs.*.delta`, then the `*.done` events (content
and refusal when the choice finishes or a tool call starts; a tool call's arguments when the
next one starts or the choice finishes).

Snapshots (`ChunkEvent.snapshot`, `ContentDeltaEvent.snapshot`, ...) are built when first read,
from what had arrived when the event fired: firing an event costs no copy of the text so far, so
a long stream stays linear however many events it yields.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Literal, TypeVar

import msgspec

from ..types import ChatCompletion, ChatCompletionChunk, ChatCompletionTokenLogprob, ChunkChoice
from .structured import (
    ParsedChatCompletion,
    ParsedChatCompletionMessage,
    ParsedChoice,
    ResponseFormat,
    parse_completion,
    resolve_response_format,
)

__all__ = [
    "ChatCompletionStreamEvent",
    "ChunkEvent",
    "ContentDeltaEvent",
    "ContentDoneEvent",
    "EventBuilder",
    "FunctionToolCallArgumentsDeltaEvent",
    "FunctionToolCallArgumentsDoneEvent",
    "LogprobsContentDeltaEvent",
    "LogprobsContentDoneEvent",
    "LogprobsRefusalDeltaEvent",
    "LogprobsRefusalDoneEvent",
    "RefusalDeltaEvent",
    "RefusalDoneEvent",
    "final_completion",
    "response_format_of",
]

T = TypeVar("T")


class _Event:
    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}(type={getattr(self, 'type', '?')!r}, {shown})"


class _Prefix:
    """The first `length` items of a growing list, materialised when read."""

    __slots__ = ("items", "length")

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.length = len(items)


def _text(prefix: _Prefix) -> str:
    return "".join(prefix.items[: prefix.length])


class ChunkEvent(_Event):
    """Every chunk, first: `.chunk`, and `.snapshot` (the completion accumulated so far)."""

    __slots__ = ("_snapshot", "_take", "chunk")
    _fields = ("chunk",)
    type: Literal["chunk"] = "chunk"

    def __init__(self, chunk: ChatCompletionChunk, take: Callable[[], ChatCompletion]) -> None:
        self.chunk = chunk
        self._take = take
        self._snapshot: ChatCompletion | None = None

    @property
    def snapshot(self) -> ChatCompletion:
        """The completion so far (built when first read; read it while handling the event)."""
        if self._snapshot is None:
            self._snapshot = self._take()
        return self._snapshot


class ContentDeltaEvent(_Event):
    """New content text: `.delta`, `.snapshot` (the content so far), `.parsed` (always None:
    partial JSON is not parsed; `content.done` carries the parsed value)."""

    __slots__ = ("_prefix", "delta", "parsed")
    _fields = ("delta",)
    type: Literal["content.delta"] = "content.delta"

    def __init__(self, delta: str, prefix: _Prefix) -> None:
        self.delta = delta
        self._prefix = prefix
        self.parsed: object | None = None

    @property
    def snapshot(self) -> str:
        return _text(self._prefix)


class ContentDoneEvent(_Event, Generic[T]):
    """A choice's content is complete: `.content`, and `.parsed` when a `response_format` type
    was given."""

    __slots__ = ("content", "parsed")
    _fields = ("content", "parsed")
    type: Literal["content.done"] = "content.done"

    def __init__(self, content: str, parsed: T | None) -> None:
        self.content = content
        self.parsed = parsed


class RefusalDeltaEvent(_Event):
    """New refusal text: `.delta`, `.snapshot` (the refusal so far)."""

    __slots__ = ("_prefix", "delta")
    _fields = ("delta",)
    type: Literal["refusal.delta"] = "refusal.delta"

    def __init__(self, delta: str, prefix: _Prefix) -> None:
        self.delta = delta
        self._prefix = prefix

    @property
    def snapshot(self) -> str:
        return _text(self._prefix)


class RefusalDoneEvent(_Event):
    """A choice's refusal is complete: `.refusal`."""

    __slots__ = ("refusal",)
    _fields = ("refusal",)
    type: Literal["refusal.done"] = "refusal.done"

    def __init__(self, refusal: str) -> None:
        self.refusal = refusal


class FunctionToolCallArgumentsDeltaEvent(_Event):
    """More arguments of tool call `.index` (`.name`): `.arguments_delta`, `.arguments` (the JSON
    text so far), `.parsed_arguments` (always None while streaming)."""

    __slots__ = ("_prefix", "arguments_delta", "index", "name", "parsed_arguments")
    _fields = ("name", "index", "arguments_delta")
    type: Literal["tool_calls.function.arguments.delta"] = "tool_calls.function.arguments.delta"

    def __init__(self, name: str, index: int, arguments_delta: str, prefix: _Prefix) -> None:
        self.name = name
        self.index = index
        self.arguments_delta = arguments_delta
        self._prefix = prefix
        self.parsed_arguments: object | None = None

    @property
    def arguments(self) -> str:
        return _text(self._prefix)


class FunctionToolCallArgumentsDoneEvent(_Event):
    """Tool call `.index` is complete: `.name`, `.arguments` (JSON text), `.parsed_arguments`
    (the decoded arguments when the tool was declared `"strict": true`, else None)."""

    __slots__ = ("arguments", "index", "name", "parsed_arguments")
    _fields = ("name", "index", "arguments")
    type: Literal["tool_calls.function.arguments.done"] = "tool_calls.function.arguments.done"

    def __init__(self, name: str, index: int, arguments: str, parsed_arguments: object) -> None:
        self.name = name
        self.index = index
        self.arguments = arguments
        self.parsed_arguments = parsed_arguments


class LogprobsContentDeltaEvent(_Event):
    """Logprobs of new content tokens: `.content`, `.snapshot` (all so far)."""

    __slots__ = ("_prefix", "content")
    _fields = ("content",)
    type: Literal["logprobs.content.delta"] = "logprobs.content.delta"

    def __init__(self, content: list[ChatCompletionTokenLogprob], prefix: _Prefix) -> None:
        self.content = content
        self._prefix = prefix

    @property
    def snapshot(self) -> list[ChatCompletionTokenLogprob]:
        return self._prefix.items[: self._prefix.length]


class LogprobsContentDoneEvent(_Event):
    """All logprobs of a choice's content: `.content`."""

    __slots__ = ("content",)
    _fields = ("content",)
    type: Literal["logprobs.content.done"] = "logprobs.content.done"

    def __init__(self, content: list[ChatCompletionTokenLogprob]) -> None:
        self.content = content


class LogprobsRefusalDeltaEvent(_Event):
    """Logprobs of new refusal tokens: `.refusal`, `.snapshot` (all so far)."""

    __slots__ = ("_prefix", "refusal")
    _fields = ("refusal",)
    type: Literal["logprobs.refusal.delta"] = "logprobs.refusal.delta"

    def __init__(self, refusal: list[ChatCompletionTokenLogprob], prefix: _Prefix) -> None:
        self.refusal = refusal
        self._prefix = prefix

    @property
    def snapshot(self) -> list[ChatCompletionTokenLogprob]:
        return self._prefix.items[: self._prefix.length]


class LogprobsRefusalDoneEvent(_Event):
    """All logprobs of a choice's refusal: `.refusal`."""

    __slots__ = ("refusal",)
    _fields = ("refusal",)
    type: Literal["logprobs.refusal.done"] = "logprobs.refusal.done"

    def __init__(self, refusal: list[ChatCompletionTokenLogprob]) -> None:
        self.refusal = refusal


ChatCompletionStreamEvent = (
    ChunkEvent
    | ContentDeltaEvent
    | ContentDoneEvent[T]
    | RefusalDeltaEvent
    | RefusalDoneEvent
    | FunctionToolCallArgumentsDeltaEvent
    | FunctionToolCallArgumentsDoneEvent
    | LogprobsContentDeltaEvent
    | LogprobsContentDoneEvent
    | LogprobsRefusalDeltaEvent
    | LogprobsRefusalDoneEvent
)
"""Any event of `chat.completions.stream()`; tell them apart by `event.type`."""


class _Tool:
    __slots__ = ("arguments", "name")

    def __init__(self) -> None:
        self.name = ""
        self.arguments: list[str] = []


class _ChoiceEvents:
    """What one choice has streamed, as far as its events need it."""

    __slots__ = (
        "content",
        "content_done",
        "current_tool",
        "done_tools",
        "logprobs",
        "logprobs_done",
        "refusal",
        "refusal_done",
        "refusal_logprobs",
        "refusal_logprobs_done",
        "tool_ids",
        "tools",
    )

    def __init__(self) -> None:
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.logprobs: list[ChatCompletionTokenLogprob] | None = None
        self.refusal_logprobs: list[ChatCompletionTokenLogprob] | None = None
        self.tools: dict[int, _Tool] = {}
        self.tool_ids: dict[str, int] = {}
        self.current_tool: int | None = None
        self.done_tools: set[int] = set()
        self.content_done = self.refusal_done = False
        self.logprobs_done = self.refusal_logprobs_done = False

    def tool_index(self, index: int | None, call_id: str | None, names_function: bool) -> int:
        # Gemini may leave out `index`: find the call as the accumulator does (by id, a new
        # call when a function is named, else the last one).
        if index is not None:
            if call_id:
                self.tool_ids[call_id] = index
            return index
        if call_id:
            known = self.tool_ids.get(call_id)
            if known is None:
                known = self.tool_ids[call_id] = len(self.tools)
            return known
        if names_function or not self.tools:
            return len(self.tools)
        return max(self.tools)


class EventBuilder(Generic[T]):
    """Turns chunks into events. `snapshot` returns the completion accumulated so far (the
    stream's); `fmt` is the resolved `response_format` when a type or schema was given, and
    `tools` the request's tools (strict ones get `parsed_arguments`)."""

    def __init__(
        self,
        snapshot: Callable[[], ChatCompletion],
        *,
        fmt: ResponseFormat | None = None,
        tools: Iterable[Mapping[str, Any]] | None = None,
    ) -> None:
        self._snapshot = snapshot
        self._fmt = fmt
        self._strict = {
            str(function.get("name")): bool(function.get("strict"))
            for tool in tools or ()
            if isinstance(tool, Mapping)
            and isinstance(function := tool.get("function"), Mapping)
        }
        self._choices: dict[int, _ChoiceEvents] = {}

    def events(self, chunk: ChatCompletionChunk) -> list[ChatCompletionStreamEvent[T]]:
        """The events for one chunk (already accumulated into the stream's snapshot)."""
        fired: list[ChatCompletionStreamEvent[T]] = [ChunkEvent(chunk, self._snapshot)]
        for choice in chunk.choices:
            state = self._choices.get(choice.index)
            if state is None:
                state = self._choices[choice.index] = _ChoiceEvents()
            tools = self._deltas(choice, state, fired)
            self._done(choice, state, fired, tools)
        return fired

    # -- deltas -------------------------------------------------------------------------------
    def _deltas(
        self, choice: ChunkChoice, state: _ChoiceEvents, fired: list[ChatCompletionStreamEvent[T]]
    ) -> list[int]:
        """Append the delta events; returns the indices of the tool calls in this chunk."""
        delta = choice.delta
        indices: list[int] = []
        if delta.content is not None:
            state.content.append(delta.content)
            fired.append(ContentDeltaEvent(delta.content, _Prefix(state.content)))
        if delta.refusal is not None:
            state.refusal.append(delta.refusal)
            fired.append(RefusalDeltaEvent(delta.refusal, _Prefix(state.refusal)))
        for call in delta.tool_calls or ():
            function = call.function
            name = function.name if function is not None else None
            index = state.tool_index(call.index, call.id, bool(name))
            indices.append(index)
            tool = state.tools.get(index)
            if tool is None:
                tool = state.tools[index] = _Tool()
            if name:
                tool.name = name
            piece = (function.arguments if function is not None else None) or ""
            if piece:
                tool.arguments.append(piece)
            prefix = _Prefix(tool.arguments)
            fired.append(FunctionToolCallArgumentsDeltaEvent(tool.name, index, piece, prefix))
        logprobs = choice.logprobs
        if logprobs is not None:
            if logprobs.content:
                if state.logprobs is None:
                    state.logprobs = []
                state.logprobs.extend(logprobs.content)
                fired.append(LogprobsContentDeltaEvent(logprobs.content, _Prefix(state.logprobs)))
            if logprobs.refusal:
                if state.refusal_logprobs is None:
                    state.refusal_logprobs = []
                state.refusal_logprobs.extend(logprobs.refusal)
                fired.append(
                    LogprobsRefusalDeltaEvent(logprobs.refusal, _Prefix(state.refusal_logprobs))
                )
        return indices

    # -- done events --------------------------------------------------------------------------
    def _done(
        self,
        choice: ChunkChoice,
        state: _ChoiceEvents,
        fired: list[ChatCompletionStreamEvent[T]],
        tool_indices: list[int],
    ) -> None:
        # A new tool call closes the content and the previous call. (The OpenAI SDK looks at
        # the finish reason first; Gemini sends its last call and the finish reason in one
        # chunk, which would leave that call without its done event.)
        for index in tool_indices:
            if state.current_tool != index:
                self._content_done(choice.index, state, fired)
                if state.current_tool is not None:
                    self._tool_done(state, state.current_tool, fired)
            state.current_tool = index
        if choice.finish_reason:
            self._content_done(choice.index, state, fired)
            if state.current_tool is not None:
                self._tool_done(state, state.current_tool, fired)

    def _content_done(
        self, index: int, state: _ChoiceEvents, fired: list[ChatCompletionStreamEvent[T]]
    ) -> None:
        if state.content and not state.content_done:
            state.content_done = True
            content = "".join(state.content)
            fired.append(ContentDoneEvent(content, self._parse(index)))
        if state.refusal and not state.refusal_done:
            state.refusal_done = True
            fired.append(RefusalDoneEvent("".join(state.refusal)))
        if state.logprobs is not None and not state.logprobs_done:
            state.logprobs_done = True
            fired.append(LogprobsContentDoneEvent(list(state.logprobs)))
        if state.refusal_logprobs is not None and not state.refusal_logprobs_done:
            state.refusal_logprobs_done = True
            fired.append(LogprobsRefusalDoneEvent(list(state.refusal_logprobs)))

    def _tool_done(
        self, state: _ChoiceEvents, index: int, fired: list[ChatCompletionStreamEvent[T]]
    ) -> None:
        if index in state.done_tools:
            return
        state.done_tools.add(index)
        tool = state.tools.get(index) or _Tool()
        arguments = "".join(tool.arguments)
        parsed: object = None
        if self._strict.get(tool.name):
            try:
                parsed = json.loads(arguments)
            except ValueError:
                parsed = None
        fired.append(FunctionToolCallArgumentsDoneEvent(tool.name, index, arguments, parsed))

    def _parse(self, index: int) -> T | None:
        """The parsed content of choice `index` (None without a response format); raises as
        `parse()` does (cut at the token limit, filtered, not matching JSON)."""
        fmt = self._fmt
        if fmt is None:
            return None
        completion = self._snapshot()
        choice = next((c for c in completion.choices if c.index == index), None)
        if choice is None:
            return None
        one = msgspec.structs.replace(completion, choices=[choice])
        one.__dict__.update(completion.__dict__)
        parsed: T | None = parse_completion(one, fmt).choices[0].message.parsed
        return parsed


def final_completion(
    completion: ChatCompletion, fmt: ResponseFormat | None
) -> ParsedChatCompletion[Any]:
    """`get_final_completion()`: the whole completion, parsed when a response format was given
    (else every `message.parsed` is None)."""
    if fmt is not None:
        return parse_completion(completion, fmt)
    return _unparsed(completion)


def _unparsed(completion: ChatCompletion) -> ParsedChatCompletion[Any]:
    choices: list[ParsedChoice[Any]] = []
    for choice in completion.choices:
        message = choice.message
        fields = {name: getattr(message, name) for name in message.__struct_fields__}
        parsed_message: ParsedChatCompletionMessage[Any] = ParsedChatCompletionMessage(**fields)
        parsed_message.__dict__.update(message.__dict__)
        choices.append(
            ParsedChoice(
                index=choice.index,
                message=parsed_message,
                finish_reason=choice.finish_reason,
                logprobs=choice.logprobs,
            )
        )
    fields = {name: getattr(completion, name) for name in completion.__struct_fields__}
    fields["choices"] = choices
    result: ParsedChatCompletion[Any] = ParsedChatCompletion(**fields)
    result.__dict__.update(completion.__dict__)
    return result


def response_format_of(response_format: Any) -> ResponseFormat | None:
    """The `ResponseFormat` for `stream(response_format=...)`: None for none or plain text."""
    if response_format is None:
        return None
    if isinstance(response_format, Mapping) and response_format.get("type") == "text":
        return None
    return resolve_response_format(response_format)


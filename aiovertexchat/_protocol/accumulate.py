"""Turning a sequence of stream chunks into one `ChatCompletion` (sans-IO).

Text pieces are appended to lists and joined only when a result is asked for, so accumulation is
linear in the streamed size: nothing already received is copied again per chunk.

Tool calls: OpenAI sends `index` on every tool-call delta, the `id` and name on the first one,
and argument fragments after. Gemini may omit `index` and send `id: ""`, usually with the whole
call in one delta. Ollama (and some vLLM/SGLang versions) send every call of a turn at `index: 0`,
each with its own id. So a delta is matched to a call by id first, then by index:
- a non-empty id seen before continues that call (unless the delta names another index than
  that call's: servers that derive ids from the function name reuse them across calls);
- a non-empty id not seen before starts a new call, even at an occupied index (unless the call
  there has no id yet: then the id is that call's, arriving late);
- a delta without id (or `id: ""`) continues the call at its index; without an index either,
  it starts a new call when it names a function (Gemini), else continues the last call.
Calls keep their order of arrival.

Other servers' dialects are normalised here, once per chunk and only when they occur (the common
chunk pays one `is not None` per field): `""` (or `"null"`) as a finish reason means "not
finished" and is set to None on the chunk, `""` as a role, tool-call id or type is set to None,
and an aliased field (`reasoning_content`) is folded into `reasoning` before the chunk is
yielded, so the caller, the metrics and the bench all read one field.
"""

from __future__ import annotations

from typing import Any

from ..types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    ChatCompletionTokenLogprob,
    Choice,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    ChoiceLogprobs,
    FunctionCall,
    ToolCall,
    Usage,
)
from .decode import ABSENT_FINISH_REASONS
from .extra_content import merge_extra, strip_thought

__all__ = ["ChunkAccumulator"]


class _ToolCallState:
    __slots__ = ("arguments", "extra_content", "id", "index", "name", "type")

    def __init__(self) -> None:
        self.id = ""
        self.index: int | None = None
        self.type = "function"
        self.name = ""
        self.arguments: list[str] = []
        self.extra_content: dict[str, Any] | None = None

    def add(self, delta: ChoiceDeltaToolCall) -> None:
        if delta.id:
            self.id = delta.id
        if delta.type:
            self.type = delta.type
        function = delta.function
        if function is not None:
            if function.name:
                self.name = function.name
            if function.arguments:
                self.arguments.append(function.arguments)
        if delta.extra_content is not None:
            self.extra_content = merge_extra(self.extra_content, delta.extra_content)

    def result(self, position: int) -> ToolCall:
        return ToolCall(
            # A call must have an id for the caller to answer it; synthesize a stable one.
            id=self.id or f"call_{position}",
            type=self.type,
            function=FunctionCall(name=self.name, arguments="".join(self.arguments)),
            extra_content=self.extra_content,
        )


class _ChoiceState:
    __slots__ = (
        "content",
        "extra_content",
        "finish_reason",
        "function_args",
        "function_name",
        "logprobs",
        "reasoning",
        "refusal",
        "refusal_logprobs",
        "role",
        "tool_by_id",
        "tool_by_index",
        "tool_calls",
    )

    def __init__(self) -> None:
        self.role = "assistant"
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: list[_ToolCallState] = []  # in order of arrival
        self.tool_by_id: dict[str, _ToolCallState] = {}
        self.tool_by_index: dict[int, _ToolCallState] = {}  # the latest call at each index
        self.function_name = ""
        self.function_args: list[str] | None = None
        self.finish_reason: str | None = None
        self.logprobs: list[ChatCompletionTokenLogprob] | None = None
        self.refusal_logprobs: list[ChatCompletionTokenLogprob] | None = None
        self.extra_content: dict[str, Any] | None = None

    def add_tool_call(self, delta: ChoiceDeltaToolCall) -> None:
        if delta.id == "":
            delta.id = None
        if delta.type == "":
            delta.type = None
        call_id = delta.id
        index = delta.index
        state: _ToolCallState | None
        if call_id:
            state = self.tool_by_id.get(call_id)
            if state is not None and index is not None and state.index not in (None, index):
                state = None  # the same id at another index: two calls, as the index says
            if state is None:
                occupant = self.tool_by_index.get(index) if index is not None else None
                state = occupant if occupant is not None and not occupant.id else self._new()
                self.tool_by_id[call_id] = state
        elif index is not None:
            state = self.tool_by_index.get(index) or self._new()
        elif (delta.function is not None and delta.function.name) or not self.tool_calls:
            state = self._new()
        else:
            state = self.tool_calls[-1]
        if index is not None:
            self.tool_by_index[index] = state
            state.index = index
        state.add(delta)

    def _new(self) -> _ToolCallState:
        state = _ToolCallState()
        self.tool_calls.append(state)
        return state

    def add_delta(self, delta: ChoiceDelta) -> None:
        role = delta.role
        if role:
            self.role = role
        elif role is not None:
            delta.role = None  # "" means absent
        alias = delta.reasoning_content
        if alias is not None:
            # Another server's name (`FIELD_ALIASES`); ours wins when both are sent.
            if delta.reasoning is None:
                delta.reasoning = alias
            delta.reasoning_content = None
        if delta.reasoning:
            self.reasoning.append(delta.reasoning)
        if delta.refusal:
            self.refusal.append(delta.refusal)
        if delta.tool_calls:
            for call in delta.tool_calls:
                self.add_tool_call(call)
        function_call = delta.function_call
        if function_call is not None:
            if function_call.name:
                self.function_name = function_call.name
            if self.function_args is None:
                self.function_args = []
            if function_call.arguments:
                self.function_args.append(function_call.arguments)
        if delta.extra_content is not None:
            # `thought: true` marks that one delta, not the message it becomes part of.
            extra = strip_thought(delta.extra_content)
            if extra is not None:
                self.extra_content = merge_extra(self.extra_content, extra)

    def result(self, index: int) -> Choice:
        tool_calls = None
        if self.tool_calls:
            tool_calls = [state.result(pos) for pos, state in enumerate(self.tool_calls)]
        function_call = None
        if self.function_args is not None:
            function_call = FunctionCall(
                name=self.function_name, arguments="".join(self.function_args)
            )
        message = ChatCompletionMessage(
            role=self.role,
            content="".join(self.content) if self.content else None,
            reasoning="".join(self.reasoning) if self.reasoning else None,
            refusal="".join(self.refusal) if self.refusal else None,
            tool_calls=tool_calls,
            function_call=function_call,
            extra_content=self.extra_content,
        )
        logprobs = None
        if self.logprobs is not None or self.refusal_logprobs is not None:
            logprobs = ChoiceLogprobs(content=self.logprobs, refusal=self.refusal_logprobs)
        return Choice(
            index=index, message=message, finish_reason=self.finish_reason, logprobs=logprobs
        )


class ChunkAccumulator:
    """Feed chunks with `add()`; `result()` builds the completion so far (cheap to call at end)."""

    __slots__ = ("_choices", "created", "id", "model", "system_fingerprint", "usage")

    def __init__(self) -> None:
        self._choices: dict[int, _ChoiceState] = {}
        self.id = ""
        self.model = ""
        self.created = 0
        self.system_fingerprint: str | None = None
        self.usage: Usage | None = None

    def add(self, chunk: ChatCompletionChunk) -> None:
        if not self.id:
            self.id = chunk.id
            self.model = chunk.model
            self.created = chunk.created
        if chunk.system_fingerprint:
            self.system_fingerprint = chunk.system_fingerprint
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            state = self._choices.get(choice.index)
            if state is None:
                state = self._choices[choice.index] = _ChoiceState()
            delta = choice.delta
            # The common chunk carries only text: keep that path to one append.
            content = delta.content
            if content:
                state.content.append(content)
            if (
                delta.role is not None
                or delta.reasoning is not None
                or delta.tool_calls is not None
                or delta.function_call is not None
                or delta.refusal is not None
                or delta.extra_content is not None
                or delta.reasoning_content is not None
            ):
                state.add_delta(delta)
            finish = choice.finish_reason
            if finish is not None:
                if finish in ABSENT_FINISH_REASONS:
                    choice.finish_reason = None  # "not finished yet" (Ollama, SGLang)
                else:
                    state.finish_reason = finish
            logprobs = choice.logprobs
            if logprobs is not None:
                if logprobs.content:
                    if state.logprobs is None:
                        state.logprobs = []
                    state.logprobs.extend(logprobs.content)
                if logprobs.refusal:
                    if state.refusal_logprobs is None:
                        state.refusal_logprobs = []
                    state.refusal_logprobs.extend(logprobs.refusal)

    @property
    def finished(self) -> bool:
        """True once every choice seen so far has a finish reason (and at least one was seen)."""
        return bool(self._choices) and all(
            state.finish_reason is not None for state in self._choices.values()
        )

    @property
    def choice_count(self) -> int:
        return len(self._choices)

    def result(self) -> ChatCompletion:
        choices = [state.result(index) for index, state in sorted(self._choices.items())]
        return ChatCompletion(
            id=self.id,
            created=self.created,
            model=self.model,
            choices=choices,
            usage=self.usage,
            system_fingerprint=self.system_fingerprint,
        )

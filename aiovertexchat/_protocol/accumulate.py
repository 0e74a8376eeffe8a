"""Turning a sequence of stream chunks into one `ChatCompletion` (sans-IO).

Text pieces are appended to lists and joined only when a result is asked for, so accumulation is
linear in the streamed size: nothing already received is copied again per chunk.

Tool calls: OpenAI sends `index` on every tool-call delta, the `id` and name on the first one,
and argument fragments after. Gemini may omit `index` and send `id: ""`, usually with the whole
call in one delta. Without an index we match a delta to a call by its non-empty id, start a new
call when the delta names a function, and otherwise continue the last call.
"""

from __future__ import annotations

from typing import Any

from ..types import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    ChoiceDelta,
    ChoiceDeltaToolCall,
    FunctionCall,
    ToolCall,
    Usage,
)
from .extra_content import merge_extra, strip_thought

__all__ = ["ChunkAccumulator"]


class _ToolCallState:
    __slots__ = ("arguments", "extra_content", "id", "name", "type")

    def __init__(self) -> None:
        self.id = ""
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
        "role",
        "tool_calls",
        "tool_index_by_id",
    )

    def __init__(self) -> None:
        self.role = "assistant"
        self.content: list[str] = []
        # Made on first use: most streams carry only text, and with thousands of streams open
        # every container kept per stream is memory and work for each full GC pass.
        self.reasoning: list[str] | None = None
        self.refusal: list[str] | None = None
        self.tool_calls: dict[int, _ToolCallState] | None = None
        self.tool_index_by_id: dict[str, int] | None = None
        self.function_name = ""
        self.function_args: list[str] | None = None
        self.finish_reason: str | None = None
        self.logprobs: list[Any] | None = None
        self.extra_content: dict[str, Any] | None = None

    def add_tool_call(self, delta: ChoiceDeltaToolCall) -> None:
        calls = self.tool_calls
        by_id = self.tool_index_by_id
        if calls is None or by_id is None:
            calls = self.tool_calls = {}
            by_id = self.tool_index_by_id = {}
        index = delta.index
        if index is None:
            index = self._synthesize_index(delta, calls, by_id)
        elif delta.id:
            by_id[delta.id] = index
        state = calls.get(index)
        if state is None:
            state = calls[index] = _ToolCallState()
        state.add(delta)

    @staticmethod
    def _synthesize_index(
        delta: ChoiceDeltaToolCall, calls: dict[int, _ToolCallState], by_id: dict[str, int]
    ) -> int:
        if delta.id:
            known = by_id.get(delta.id)
            if known is not None:
                return known
            index = len(calls)
            by_id[delta.id] = index
            return index
        names_function = delta.function is not None and bool(delta.function.name)
        if names_function or not calls:
            return len(calls)
        return max(calls)

    def add_delta(self, delta: ChoiceDelta) -> None:
        if delta.role:
            self.role = delta.role
        if delta.reasoning:
            if self.reasoning is None:
                self.reasoning = []
            self.reasoning.append(delta.reasoning)
        if delta.refusal:
            if self.refusal is None:
                self.refusal = []
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
            ordered = sorted(self.tool_calls.items())
            tool_calls = [state.result(pos) for pos, (_, state) in enumerate(ordered)]
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
        logprobs = {"content": self.logprobs} if self.logprobs is not None else None
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
            ):
                state.add_delta(delta)
            if choice.finish_reason is not None:
                state.finish_reason = choice.finish_reason
            logprobs = choice.logprobs
            if logprobs:
                content_logprobs = logprobs.get("content") if isinstance(logprobs, dict) else None
                if content_logprobs:
                    if state.logprobs is None:
                        state.logprobs = []
                    state.logprobs.extend(content_logprobs)

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

"""Request parameters: the one list of accepted names, and turning a call into JSON bytes.

Vertex silently ignores parameters it does not know, so a typo such as `temprature=0` would
change nothing and report nothing. We refuse unknown names on our side, naming the closest valid
one. The list lives in `CompletionParams`; type checkers read it too.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal, TypedDict

import msgspec

from ..errors import InvalidRequestError, UnknownParameterError

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover - exercised on 3.10 only
    from typing_extensions import NotRequired

__all__ = [
    "BODY_PARAMS",
    "CompletionParams",
    "ParseParams",
    "build_body",
    "check_param_names",
    "find_unknown",
]


class ParseParams(TypedDict):
    """Body parameters of `chat.completions.parse`: all of `create`'s but `response_format`,
    which `parse` builds from its own, richer argument (see `CompletionParams`)."""

    frequency_penalty: NotRequired[float | None]
    presence_penalty: NotRequired[float | None]
    max_tokens: NotRequired[int | None]
    max_completion_tokens: NotRequired[int | None]
    n: NotRequired[int | None]
    temperature: NotRequired[float | None]
    top_p: NotRequired[float | None]
    seed: NotRequired[int | None]
    stop: NotRequired[str | Sequence[str] | None]
    stream_options: NotRequired[Mapping[str, Any] | None]
    logprobs: NotRequired[bool | None]
    top_logprobs: NotRequired[int | None]
    logit_bias: NotRequired[Mapping[str, int] | None]
    user: NotRequired[str | None]
    reasoning_effort: NotRequired[Literal["none", "minimal", "low", "medium", "high"] | None]
    tools: NotRequired[Sequence[Mapping[str, Any]] | None]
    tool_choice: NotRequired[str | Mapping[str, Any] | None]
    parallel_tool_calls: NotRequired[bool | None]
    functions: NotRequired[Sequence[Mapping[str, Any]] | None]
    function_call: NotRequired[str | Mapping[str, Any] | None]
    web_search_options: NotRequired[Mapping[str, Any] | None]
    modalities: NotRequired[Sequence[str] | None]
    metadata: NotRequired[Mapping[str, str] | None]
    service_tier: NotRequired[str | None]
    store: NotRequired[bool | None]


class CompletionParams(ParseParams):
    """Body parameters of `chat.completions.create`, named as in the OpenAI API.

    A value of `None` means "not given": it is left out of the request body.
    """

    response_format: NotRequired[Mapping[str, Any] | None]


BODY_PARAMS = frozenset(CompletionParams.__annotations__)
"""Every body parameter `create()` takes by name (the OpenAI API's names)."""

_encoder = msgspec.json.Encoder()


def find_unknown(
    names: Iterable[str], allowed: Collection[str], *, also_suggest: Collection[str] = ()
) -> tuple[str, str | None] | None:
    """The first name not in `allowed` and the closest known name (from `allowed` and
    `also_suggest`, or None); None when every name is allowed.

    The one unknown-parameter check: `create()` and batch input lines both use it.
    """
    for name in names:
        if name not in allowed:
            candidates = sorted({*allowed, *also_suggest})
            close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
            return name, (close[0] if close else None)
    return None


def check_param_names(names: Iterable[str], *, call_keywords: Collection[str] = ()) -> None:
    """Raise `UnknownParameterError` (a `TypeError`) for a name that is not a body parameter.

    `call_keywords`: the caller's other keyword names, offered as suggestions too (a typo of
    `separate_thoughts` is refused with that name as the hint).
    """
    unknown = find_unknown(names, BODY_PARAMS, also_suggest=call_keywords)
    if unknown is None:
        return
    name, close = unknown
    hint = f"; did you mean {close!r}?" if close else ""
    raise UnknownParameterError(
        f"create() got an unknown parameter {name!r}{hint} Vertex would silently ignore it, "
        "so it is refused here. Pass server-specific fields through extra_body={...}."
    )


def _check_messages(messages: Any) -> None:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise UnknownParameterError(
            "messages must be a list of message objects, e.g. "
            "[{'role': 'user', 'content': 'Hello'}]"
        )
    if not messages:
        raise InvalidRequestError("messages is empty: send at least one message")


def build_body(
    *,
    model: str | None,
    messages: Sequence[Any],
    stream: bool,
    params: Mapping[str, Any],
    extra_body: Mapping[str, Any] | None = None,
) -> bytes:
    """The JSON request body: given parameters, then `extra_body` merged on top (OpenAI rules)."""
    _check_messages(messages)
    body: dict[str, Any] = {"messages": messages}
    if model is not None:
        body["model"] = model
    if stream:
        body["stream"] = True
    for name, value in params.items():
        if value is not None:
            body[name] = value
    if extra_body:
        body.update(extra_body)
    return _encoder.encode(body)

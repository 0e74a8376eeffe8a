"""Request parameters: the one list of accepted names, and turning a call into JSON bytes.

Vertex silently ignores parameters it does not know, so a typo such as `temprature=0` would
change nothing and report nothing. We refuse unknown names on our side, naming the closest valid
one. The list lives in `CompletionParams`; type checkers read it too.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypedDict

import msgspec

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover - exercised on 3.10 only
    from typing_extensions import NotRequired

__all__ = ["CompletionParams", "ParseParams", "RequestOptions", "build_body", "check_param_names"]


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


class RequestOptions(TypedDict, total=False):
    """Per-call options that shape the HTTP exchange, not the JSON body."""

    extra_body: Mapping[str, Any] | None
    extra_headers: Mapping[str, str] | None
    timeout: float | None


_BODY_PARAMS = frozenset(CompletionParams.__annotations__)
# Everything `create` accepts by keyword besides the body parameters above.
_CALL_KEYWORDS = frozenset(
    {"model", "messages", "stream", "google", "separate_thoughts", *RequestOptions.__annotations__}
)
_ALL_NAMES = sorted(_BODY_PARAMS | _CALL_KEYWORDS)

_encoder = msgspec.json.Encoder()


def check_param_names(names: Iterable[str], *, extra_allowed: Iterable[str] = ()) -> None:
    """Raise `TypeError` for any name that is not a known parameter, suggesting the closest."""
    allowed = _BODY_PARAMS.union(extra_allowed)
    for name in names:
        if name in allowed:
            continue
        close = difflib.get_close_matches(name, _ALL_NAMES, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise TypeError(
            f"create() got an unknown parameter {name!r}{hint} Vertex would silently ignore it, "
            "so it is refused here. Pass server-specific fields through extra_body={...}."
        )


def _check_messages(messages: Any) -> None:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError(
            "messages must be a list of message objects, e.g. "
            "[{'role': 'user', 'content': 'Hello'}]"
        )
    if not messages:
        raise ValueError("messages is empty: send at least one message")


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

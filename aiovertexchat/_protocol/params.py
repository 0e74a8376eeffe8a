"""Request parameters: the one list of accepted names, and turning a call into JSON bytes.

Vertex silently ignores parameters it does not know, so a typo such as `temprature=0` would
change nothing and report nothing. We refuse unknown names on our side, naming the closest valid
one. The list lives in `CompletionParams`; type checkers read it too.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Literal, TypedDict, TypeVar, Union

import msgspec

from ..errors import InvalidRequestError, UnknownParameterError
from .given import NotGiven, Omit, is_omitted

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover - exercised on 3.10 only
    from typing_extensions import NotRequired

__all__ = [
    "BODY_PARAMS",
    "CompletionParams",
    "Opt",
    "ParseParams",
    "build_body",
    "check_param_names",
    "find_unknown",
]


_T = TypeVar("_T")

# `Union[...]`: mypy takes a generic alias over a bare TypeVar only in this form.
Opt = Union[_T, None, NotGiven, Omit]  # noqa: UP007
"""A parameter that may be left out: None, `NOT_GIVEN` and `omit` all mean "not given"."""


class ParseParams(TypedDict):
    """Body parameters of `chat.completions.parse`: all of `create`'s but `response_format`,
    which `parse` builds from its own, richer argument (see `CompletionParams`)."""

    frequency_penalty: NotRequired[Opt[float]]
    presence_penalty: NotRequired[Opt[float]]
    max_tokens: NotRequired[Opt[int]]
    max_completion_tokens: NotRequired[Opt[int]]
    n: NotRequired[Opt[int]]
    temperature: NotRequired[Opt[float]]
    top_p: NotRequired[Opt[float]]
    seed: NotRequired[Opt[int]]
    stop: NotRequired[Opt[str | Sequence[str]]]
    stream_options: NotRequired[Opt[Mapping[str, Any]]]
    logprobs: NotRequired[Opt[bool]]
    top_logprobs: NotRequired[Opt[int]]
    logit_bias: NotRequired[Opt[Mapping[str, int]]]
    user: NotRequired[Opt[str]]
    reasoning_effort: NotRequired[Opt[Literal["none", "minimal", "low", "medium", "high"]]]
    tools: NotRequired[Opt[Sequence[Mapping[str, Any]]]]
    tool_choice: NotRequired[Opt[str | Mapping[str, Any]]]
    parallel_tool_calls: NotRequired[Opt[bool]]
    functions: NotRequired[Opt[Sequence[Mapping[str, Any]]]]
    function_call: NotRequired[Opt[str | Mapping[str, Any]]]
    web_search_options: NotRequired[Opt[Mapping[str, Any]]]
    modalities: NotRequired[Opt[Sequence[str]]]
    metadata: NotRequired[Opt[Mapping[str, str]]]
    service_tier: NotRequired[Opt[str]]
    store: NotRequired[Opt[bool]]
    # Newer OpenAI parameters, passed through as given (Vertex ignores those it does not know).
    audio: NotRequired[Opt[Mapping[str, Any]]]
    prediction: NotRequired[Opt[Mapping[str, Any]]]
    prompt_cache_key: NotRequired[Opt[str]]
    prompt_cache_retention: NotRequired[Opt[str]]
    prompt_cache_options: NotRequired[Opt[Mapping[str, Any]]]
    safety_identifier: NotRequired[Opt[str]]
    verbosity: NotRequired[Opt[Literal["low", "medium", "high"]]]
    moderation: NotRequired[Opt[Mapping[str, Any]]]


class CompletionParams(ParseParams):
    """Body parameters of `chat.completions.create`, named as in the OpenAI API.

    `None`, `NOT_GIVEN` and `omit` mean "not given": the parameter is left out of the body.
    """

    response_format: NotRequired[Opt[Mapping[str, Any]]]


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
        # Truthy values skip the sentinel check; it runs only for 0, False, "" and sentinels.
        if value is not None and (value or not is_omitted(value)):
            body[name] = value
    if extra_body and not is_omitted(extra_body):
        body.update(extra_body)
    return _encoder.encode(body)

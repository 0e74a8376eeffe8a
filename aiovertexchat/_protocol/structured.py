"""Structured outputs: `response_format` from a type or schema, and `parsed` results (sans-IO).

`resolve_response_format` turns what the caller gave `parse()` into the wire
`response_format` and a validator; `parse_completion` checks the finish reasons and validates
each choice's JSON into `choices[i].message.parsed`.

`parsed` is not a wire field: the `Parsed*` types keep it in the instance `__dict__` (msgspec
`dict=True`), so a parsed message appended to `messages` is sent exactly as the server sent it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from ..errors import (
    ContentFilterFinishReasonError,
    InvalidJSONError,
    LengthFinishReasonError,
    StructuredOutputError,
)
from ..types import ChatCompletion, ChatCompletionMessage, Choice
from .schema import is_pydantic_model, schema_of_type, to_vertex_schema

__all__ = [
    "ContentFilterFinishReasonError",
    "InvalidJSONError",
    "LengthFinishReasonError",
    "ParsedChatCompletion",
    "ParsedChatCompletionMessage",
    "ParsedChoice",
    "ResponseFormat",
    "StructuredOutputError",
    "parse_completion",
    "resolve_response_format",
]

T = TypeVar("T")

_WIRE_TYPES = ("text", "json_object", "json_schema")
_NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


# -- parsed types -------------------------------------------------------------------------------
class ParsedChatCompletionMessage(ChatCompletionMessage, Generic[T]):
    """A message with `parsed`: the validated object (None for a refusal or a tool call)."""

    @property
    def parsed(self) -> T | None:
        value: T | None = self.__dict__.get("_parsed")
        return value


class ParsedChoice(Choice, Generic[T]):
    message: ParsedChatCompletionMessage[T] = msgspec.field(
        default_factory=ParsedChatCompletionMessage
    )


class ParsedChatCompletion(ChatCompletion, Generic[T]):
    choices: list[ParsedChoice[T]] = msgspec.field(  # type: ignore[assignment]
        default_factory=list
    )


# -- response_format ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ResponseFormat:
    """The `response_format` to send and how to turn the answer's text into `parsed`."""

    wire: dict[str, Any]
    validate: Callable[[str], Any]
    description: str


def _schema_name(name: str) -> str:
    cleaned = _NAME_UNSAFE.sub("_", name)[:64]
    return cleaned or "response"


def _json_schema_format(name: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": _schema_name(name), "schema": to_vertex_schema(schema)},
    }


def resolve_response_format(response_format: Any) -> ResponseFormat:
    """Accepts a pydantic model class, a msgspec Struct / dataclass / TypedDict type, a raw
    JSON schema dict, `{"type": "json_object"}`, or a wire `{"type": "json_schema", ...}`."""
    if isinstance(response_format, type):
        name = response_format.__name__
        schema = schema_of_type(response_format)
        validate: Callable[[str], Any]
        if is_pydantic_model(response_format):
            validate = getattr(response_format, "model_validate_json")  # noqa: B009
        else:
            validate = msgspec.json.Decoder(response_format).decode
        return ResponseFormat(_json_schema_format(name, schema), validate, name)
    if not isinstance(response_format, Mapping):
        raise TypeError(
            "response_format must be a model class (pydantic, msgspec Struct, dataclass, "
            f"TypedDict), a JSON schema dict or {{'type': 'json_object'}}; got "
            f"{type(response_format).__name__}"
        )
    kind = response_format.get("type")
    if kind == "json_object":
        return ResponseFormat({"type": "json_object"}, _decode_json, "a JSON value")
    if kind == "json_schema":
        inner = response_format.get("json_schema")
        if not isinstance(inner, Mapping) or not isinstance(inner.get("schema"), Mapping):
            raise ValueError(
                "response_format {'type': 'json_schema'} needs 'json_schema': "
                "{'name': ..., 'schema': {...}}"
            )
        schema = to_vertex_schema(inner["schema"])
        wire = {"type": "json_schema", "json_schema": {**inner, "schema": schema}}
        return ResponseFormat(wire, _schema_validator(schema), "JSON matching the schema")
    if kind == "text":
        raise ValueError(
            "parse() needs JSON output: pass a model class, a JSON schema, or "
            "{'type': 'json_object'}; for plain text use create()"
        )
    schema = to_vertex_schema(response_format)
    name = str(response_format.get("title") or "response")
    return ResponseFormat(
        _json_schema_format(name, schema), _schema_validator(schema), "JSON matching the schema"
    )


def _decode_json(text: str) -> Any:
    return msgspec.json.decode(text)


def _schema_validator(schema: dict[str, Any]) -> Callable[[str], Any]:
    def validate(text: str) -> Any:
        value = msgspec.json.decode(text)
        problem = check_instance(value, schema)
        if problem is not None:
            raise ValueError(problem)
        return value

    return validate


_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def check_instance(value: Any, schema: Any, path: str = "$") -> str | None:
    """A light structural check (type, enum, required, properties, items, anyOf) of a value
    against an inlined schema; returns what is wrong, or None. Keywords it does not know are
    not checked: this catches a model that ignored the schema, it is not a full validator."""
    if not isinstance(schema, Mapping):
        return None
    options = schema.get("anyOf") or schema.get("oneOf")
    if (
        isinstance(options, list)
        and options
        and all(check_instance(value, option, path) is not None for option in options)
    ):
        return f"{path}: matches none of the allowed shapes"
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if isinstance(kind, str) else []
    if schema.get("nullable") is True and value is None:
        return None
    if kinds and not any(_JSON_TYPES.get(k, lambda v: True)(value) for k in kinds):
        return f"{path}: expected {' or '.join(kinds)}, got {type(value).__name__}"
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        return f"{path}: {value!r} is not one of {enum!r}"
    if isinstance(value, dict):
        required = schema.get("required")
        if isinstance(required, list):
            missing = [name for name in required if name not in value]
            if missing:
                return f"{path}: missing required {missing!r}"
        properties = schema.get("properties")
        if isinstance(properties, Mapping):
            for name, sub in properties.items():
                if name in value:
                    problem = check_instance(value[name], sub, f"{path}.{name}")
                    if problem is not None:
                        return problem
    if isinstance(value, list):
        items = schema.get("items")
        for i, item in enumerate(value):
            problem = check_instance(item, items, f"{path}[{i}]")
            if problem is not None:
                return problem
    return None


# -- parsing ------------------------------------------------------------------------------------
def _parsed_message(message: ChatCompletionMessage) -> ParsedChatCompletionMessage[Any]:
    fields = {name: getattr(message, name) for name in message.__struct_fields__}
    parsed: ParsedChatCompletionMessage[Any] = ParsedChatCompletionMessage(**fields)
    parsed.__dict__.update(message.__dict__)
    return parsed


def parse_completion(completion: ChatCompletion, fmt: ResponseFormat) -> ParsedChatCompletion[Any]:
    """Validate every choice into `message.parsed`, or raise a `StructuredOutputError`."""
    choices: list[ParsedChoice[Any]] = []
    for choice in completion.choices:
        message = choice.message
        raw = message.content
        where = f"choice {choice.index}"
        if choice.finish_reason == "length":
            raise LengthFinishReasonError(
                f"{where} was cut at the token limit (finish_reason 'length'), so its JSON is "
                "incomplete; raise max_tokens / max_completion_tokens (thinking tokens count "
                "too) or ask for less. The text so far is in .raw",
                completion=completion,
                raw=raw,
            )
        if choice.finish_reason == "content_filter":
            raise ContentFilterFinishReasonError(
                f"{where} was stopped by a safety filter (finish_reason 'content_filter'); "
                "rephrase the request or adjust safety_settings",
                completion=completion,
                raw=raw,
            )
        parsed_message = _parsed_message(message)
        if raw and message.refusal is None:
            try:
                value = fmt.validate(raw)
            # (RecursionError: JSON nested past the decoder's depth limit)
            except (msgspec.DecodeError, ValueError, RecursionError) as exc:
                # pydantic's ValidationError is a ValueError; msgspec's errors are DecodeErrors.
                excerpt = raw if len(raw) <= 200 else raw[:200] + "..."
                raise InvalidJSONError(
                    f"{where} is not {fmt.description}: {exc}; text: {excerpt!r}",
                    completion=completion,
                    raw=raw,
                ) from exc
            parsed_message.__dict__["_parsed"] = value
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


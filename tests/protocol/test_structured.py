"""Structured outputs without a server: schema conversion, response_format resolution, and
turning completions into `parsed` (or typed errors)."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import msgspec
import pydantic
import pytest

from aiovertexchat import (
    ContentFilterFinishReasonError,
    InvalidJSONError,
    LengthFinishReasonError,
    ParsedChatCompletion,
    UnsupportedSchemaError,
)
from aiovertexchat._protocol.schema import to_vertex_schema
from aiovertexchat._protocol.structured import (
    check_instance,
    parse_completion,
    resolve_response_format,
)
from aiovertexchat.types import ChatCompletion


class Address(pydantic.BaseModel):
    street: str
    city: str


class Person(pydantic.BaseModel):
    name: str
    home: Address
    previous: list[Address] = []
    kind: Literal["a", "b"] = "a"


class TreeNode(pydantic.BaseModel):
    value: int
    children: list[TreeNode] = []


class Pair(msgspec.Struct):
    left: int
    right: str


@dataclasses.dataclass
class Point:
    x: float
    y: float


def completion(content: str | None, finish: str = "stop", **message: Any) -> ChatCompletion:
    body = {
        "id": "c1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, **message},
                "finish_reason": finish,
            }
        ],
    }
    return msgspec.json.decode(msgspec.json.encode(body), type=ChatCompletion)


# -- schema conversion --------------------------------------------------------------------------
def test_refs_are_inlined_and_defs_dropped() -> None:
    schema = to_vertex_schema(Person.model_json_schema())
    assert "$defs" not in schema
    assert "$ref" not in msgspec.json.encode(schema).decode()
    home = schema["properties"]["home"]
    assert home["properties"]["city"]["type"] == "string"
    assert schema["properties"]["previous"]["items"]["required"] == ["street", "city"]


def test_sibling_keywords_of_a_ref_are_kept() -> None:
    schema = {
        "$defs": {"A": {"type": "string"}},
        "properties": {"a": {"$ref": "#/$defs/A", "description": "an a"}},
    }
    assert to_vertex_schema(schema)["properties"]["a"] == {"type": "string", "description": "an a"}


def test_recursive_schema_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedSchemaError) as caught:
        to_vertex_schema(TreeNode.model_json_schema())
    assert "recursive (TreeNode -> TreeNode)" in str(caught.value)
    mutual = {
        "$defs": {
            "A": {"properties": {"b": {"$ref": "#/$defs/B"}}},
            "B": {"properties": {"a": {"$ref": "#/$defs/A"}}},
        },
        "$ref": "#/$defs/A",
    }
    with pytest.raises(UnsupportedSchemaError, match="A -> B -> A"):
        to_vertex_schema(mutual)
    with pytest.raises(UnsupportedSchemaError, match="refers to itself"):
        to_vertex_schema({"properties": {"x": {"$ref": "#"}}})
    with pytest.raises(UnsupportedSchemaError, match="outside"):
        to_vertex_schema({"properties": {"x": {"$ref": "https://example.com/s.json"}}})


def test_shared_definitions_are_not_recursion() -> None:
    schema = {
        "$defs": {"A": {"type": "integer"}},
        "properties": {"x": {"$ref": "#/$defs/A"}, "y": {"$ref": "#/$defs/A"}},
    }
    converted = to_vertex_schema(schema)
    assert converted["properties"] == {"x": {"type": "integer"}, "y": {"type": "integer"}}


def test_enums_get_a_type() -> None:
    assert to_vertex_schema({"enum": ["a", "b"]}) == {"enum": ["a", "b"], "type": "string"}
    assert to_vertex_schema({"enum": [1, 2]}) == {"enum": [1, 2], "type": "integer"}
    assert to_vertex_schema({"enum": [1, "a"]}) == {"enum": [1, "a"]}


# -- response_format ----------------------------------------------------------------------------
def test_pydantic_model_format() -> None:
    fmt = resolve_response_format(Person)
    assert fmt.wire["type"] == "json_schema"
    assert fmt.wire["json_schema"]["name"] == "Person"
    assert "$defs" not in fmt.wire["json_schema"]["schema"]


def test_msgspec_and_dataclass_formats_validate_into_instances() -> None:
    pair = resolve_response_format(Pair)
    assert pair.validate('{"left": 1, "right": "r"}') == Pair(1, "r")
    point = resolve_response_format(Point)
    assert point.validate('{"x": 1.5, "y": 2}') == Point(1.5, 2.0)
    with pytest.raises(msgspec.ValidationError):
        pair.validate('{"left": "no"}')


def test_raw_schema_and_wire_forms() -> None:
    raw = {"title": "My Thing!", "type": "object", "properties": {"n": {"type": "integer"}},
           "required": ["n"]}
    fmt = resolve_response_format(raw)
    assert fmt.wire["json_schema"]["name"] == "My_Thing_"
    assert fmt.validate('{"n": 3}') == {"n": 3}
    with pytest.raises(ValueError, match="missing required"):
        fmt.validate('{"m": 3}')
    wrapped = resolve_response_format(
        {"type": "json_schema", "json_schema": {"name": "x", "schema": raw, "strict": True}}
    )
    assert wrapped.wire["json_schema"]["strict"] is True
    assert wrapped.validate('{"n": 1}') == {"n": 1}
    assert resolve_response_format({"type": "json_object"}).wire == {"type": "json_object"}
    with pytest.raises(ValueError, match="create"):
        resolve_response_format({"type": "text"})
    with pytest.raises(TypeError, match="response_format"):
        resolve_response_format(["not", "a", "schema"])
    with pytest.raises(UnsupportedSchemaError):
        resolve_response_format(TreeNode)


@pytest.mark.parametrize(
    ("value", "schema", "problem"),
    [
        ({"a": 1}, {"type": "object", "properties": {"a": {"type": "string"}}}, "$.a: expected"),
        ([1, "x"], {"type": "array", "items": {"type": "integer"}}, "$[1]"),
        ("c", {"enum": ["a", "b"]}, "not one of"),
        (True, {"type": "integer"}, "expected integer"),
        (None, {"type": "string", "nullable": True}, None),
        (None, {"anyOf": [{"type": "string"}, {"type": "null"}]}, None),
        (3, {"anyOf": [{"type": "string"}, {"type": "null"}]}, "none of the allowed"),
        (2.5, {"type": ["number", "null"]}, None),
    ],
)
def test_check_instance(value: Any, schema: dict[str, Any], problem: str | None) -> None:
    found = check_instance(value, schema)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


# -- parsing ------------------------------------------------------------------------------------
def test_parsed_instance_and_metadata_survive() -> None:
    raw = completion('{"name": "Ada", "home": {"street": "s", "city": "c"}}')
    raw.__dict__["_response"] = "info"
    parsed = parse_completion(raw, resolve_response_format(Person))
    assert isinstance(parsed, ParsedChatCompletion)
    person = parsed.choices[0].message.parsed
    assert isinstance(person, Person) and person.home.city == "c"
    assert parsed.id == "c1" and parsed.__dict__["_response"] == "info"
    # `parsed` is not a wire field: the message encodes as the server sent it.
    encoded = msgspec.json.decode(msgspec.json.encode(parsed.choices[0].message))
    assert encoded == {"role": "assistant", "content": raw.choices[0].message.content}


def test_truncation_is_a_typed_error_with_the_text() -> None:
    with pytest.raises(LengthFinishReasonError) as caught:
        parse_completion(completion('{"name": "Ad', "length"), resolve_response_format(Person))
    assert caught.value.raw == '{"name": "Ad'
    assert "max_tokens" in str(caught.value)
    assert caught.value.completion.id == "c1"


def test_content_filter_is_a_typed_error() -> None:
    with pytest.raises(ContentFilterFinishReasonError, match="safety"):
        parse_completion(completion(None, "content_filter"), resolve_response_format(Person))


@pytest.mark.parametrize(
    "text", ["not json at all", '{"name": "Ada"}', '{"name": "Ada", "home": 3}']
)
def test_invalid_json_or_shape_carries_the_raw_text(text: str) -> None:
    with pytest.raises(InvalidJSONError) as caught:
        parse_completion(completion(text), resolve_response_format(Person))
    assert caught.value.raw == text
    assert text[:10] in str(caught.value)


def test_refusals_and_tool_calls_leave_parsed_empty() -> None:
    fmt = resolve_response_format({"type": "json_object"})
    refused = parse_completion(completion("I can't", refusal="no"), fmt)
    assert refused.choices[0].message.parsed is None
    calls = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    tooled = parse_completion(completion(None, "tool_calls", tool_calls=calls), fmt)
    assert tooled.choices[0].message.parsed is None
    assert tooled.choices[0].message.tool_calls is not None

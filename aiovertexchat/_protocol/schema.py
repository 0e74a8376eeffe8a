"""JSON schemas as Vertex takes them, and JSON schemas from Python types.

Vertex's structured output and function declarations take a JSON schema, but not references
that never end ("fully recursive schemas are unsupported"). Pydantic and msgspec put nested
models under `$defs` and point at them with `$ref`, so `to_vertex_schema` inlines every
reference; a reference cycle cannot be inlined and raises `UnsupportedSchemaError` naming it,
before anything is sent (the server would otherwise answer with an opaque 400).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import msgspec

from ..errors import UnsupportedSchemaError

__all__ = ["UnsupportedSchemaError", "is_pydantic_model", "schema_of_type", "to_vertex_schema"]

_DEF_KEYS = ("$defs", "definitions")


def is_pydantic_model(obj: Any) -> bool:
    """A pydantic v2 model class, recognised without importing pydantic (it is optional)."""
    return isinstance(obj, type) and all(
        callable(getattr(obj, name, None)) for name in ("model_json_schema", "model_validate_json")
    )


def _ref_name(ref: str) -> str:
    for prefix in ("#/$defs/", "#/definitions/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :].replace("~1", "/").replace("~0", "~")
    if ref == "#":
        raise UnsupportedSchemaError(
            "the schema refers to itself ($ref '#'), so it is fully recursive; Vertex does not "
            "support recursive schemas: bound the nesting (e.g. a fixed number of levels)"
        )
    raise UnsupportedSchemaError(
        f"$ref {ref!r} points outside the schema's $defs; only local references can be inlined"
    )


class _Inliner:
    def __init__(self, defs: Mapping[str, Any]) -> None:
        self._defs = defs
        self._done: dict[str, Any] = {}

    def resolve(self, name: str, stack: tuple[str, ...]) -> Any:
        if name in stack:
            cycle = " -> ".join((*stack[stack.index(name) :], name))
            raise UnsupportedSchemaError(
                f"the schema is recursive ({cycle}); Vertex does not support recursive schemas. "
                "Replace the self-reference with a bounded structure (e.g. a fixed number of "
                "levels, or a list of flat items that refer to each other by id)."
            )
        if name in self._done:
            # A copy per use: callers may edit one place without changing the others.
            return copy.deepcopy(self._done[name])
        if name not in self._defs:
            raise UnsupportedSchemaError(f"$ref to {name!r}, which is not in the schema's $defs")
        result = self.inline(self._defs[name], (*stack, name))
        self._done[name] = result
        return result

    def inline(self, node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target = self.resolve(_ref_name(ref), stack)
                siblings = {k: v for k, v in node.items() if k != "$ref" and k not in _DEF_KEYS}
                if not siblings:
                    return target
                # Keywords beside a $ref (description, default) refine the target.
                return {**target, **{k: self.inline(v, stack) for k, v in siblings.items()}}
            result = {
                key: self.inline(value, stack)
                for key, value in node.items()
                if key not in _DEF_KEYS
            }
            enum = result.get("enum")
            if "type" not in result and isinstance(enum, list) and enum:
                # msgspec leaves `type` off enums; Gemini's schema wants it. Same meaning.
                kind = _enum_type(enum)
                if kind is not None:
                    result["type"] = kind
            return result
        if isinstance(node, list):
            return [self.inline(item, stack) for item in node]
        return node


def _enum_type(values: list[Any]) -> str | None:
    if all(isinstance(v, str) for v in values):
        return "string"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    return None


def to_vertex_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `schema` with every `$ref` inlined and `$defs` dropped.

    Raises `UnsupportedSchemaError` for recursive or non-local references.
    """
    if not isinstance(schema, Mapping):
        raise TypeError(f"a JSON schema must be a mapping, got {type(schema).__name__}")
    defs: dict[str, Any] = {}
    for key in _DEF_KEYS:
        found = schema.get(key)
        if isinstance(found, Mapping):
            defs.update(found)
    result = _Inliner(defs).inline(schema, ())
    if not isinstance(result, dict):  # pragma: no cover - a mapping inlines to a dict
        raise UnsupportedSchemaError("the schema did not resolve to an object")
    return result


def schema_of_type(tp: Any) -> dict[str, Any]:
    """The JSON schema of a Python type: a pydantic model, or anything msgspec describes
    (Structs, dataclasses, TypedDicts, enums, Literal, builtins and their containers)."""
    if is_pydantic_model(tp):
        raw: dict[str, Any] = tp.model_json_schema()
        return raw
    try:
        described: dict[str, Any] = msgspec.json.schema(tp)
    except TypeError as exc:
        raise UnsupportedSchemaError(
            f"cannot describe {tp!r} as a JSON schema ({exc}); use a pydantic model "
            "(pip install 'aiovertexchat[pydantic]'), a msgspec Struct, a dataclass, a "
            "TypedDict, or pass a JSON schema dict"
        ) from None
    return described
